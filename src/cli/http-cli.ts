import { parseArgs } from "node:util";
import type { DrydockClient } from "../client/drydock-client";

export const httpUsage = `usage: drydock http LEASE_ID [PATH] [-X METHOD] [-d DATA] [-H 'NAME: VALUE']...

The lease's web server (started with POST /v1/leases/LEASE_ID/httpd), through Drydock.

Without PATH: prints its URL. Requests to it need your token, as every Drydock request does:
  curl -H "Authorization: Bearer $DRYDOCK_TOKEN" "$(drydock http LEASE_ID)index.html"
With PATH (and its query, if any): fetches it with your token and writes the body to stdout. Exits 1
when the server answers 400 or more (its status goes to stderr), or when Drydock refuses (no server
runs, nothing answers on its port: the reason goes to stderr).

  -X METHOD        the method (default GET)
  -d DATA          the body (a string; -d @FILE is not read as a file)
  -H 'NAME: VALUE' a header (repeatable)`;

/** `drydock http LEASE_ID [PATH]`: the proxied URL, or what the lease's server answers there. */
export async function httpCommand(client: DrydockClient, args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { method: { type: "string", short: "X" }, data: { type: "string", short: "d" }, header: { type: "string", short: "H", multiple: true }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(httpUsage);
    return 0;
  }
  const [id, path, ...extra] = positionals;
  if (!id || extra.length > 0) throw new Error(httpUsage);
  if (path === undefined) {
    out.write(`${client.httpUrl(id)}\n`);
    return 0;
  }
  const headers: Record<string, string> = {};
  for (const header of values.header ?? []) {
    const colon = header.indexOf(":");
    if (colon < 1) throw new Error(`-H takes 'NAME: VALUE', not ${header}`);
    headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  const response = await client.http(id, path, {
    method: values.method ?? (values.data !== undefined ? "POST" : "GET"),
    headers,
    ...(values.data !== undefined ? { body: values.data } : {}),
  });
  // The body as it comes, at the pace stdout takes it.
  for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) {
    if (!out.write(chunk)) await new Promise((resolve) => out.once("drain", resolve));
  }
  if (response.status >= 400) {
    console.error(`drydock: the lease's server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`);
    return 1;
  }
  return 0;
}
