import { parseArgs } from "node:util";
import type { DrydockClient } from "../client/drydock-client";
import { printTable } from "./print-table";


const usage = "usage: drydock token create --owner NAME --role client|admin|metrics [--expires-in SECONDS] | drydock token ls [--all] [--json] | drydock token revoke TOKEN_ID [--reason TEXT]";

/**
 * `drydock token …` (admin): issue, list and revoke tokens. `create` prints the token alone on
 * stdout, so `TOKEN=$(drydock token create …)` keeps it out of the terminal's scrollback.
 */
export async function tokenCommand(client: DrydockClient, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "create": {
      const { values } = parseArgs({ args: rest, options: { owner: { type: "string" }, role: { type: "string" }, "expires-in": { type: "string" } }, allowPositionals: false });
      if (!values.owner || (values.role !== "client" && values.role !== "admin" && values.role !== "metrics")) throw new Error(usage);
      const expiresIn = values["expires-in"] === undefined ? undefined : Number(values["expires-in"]);
      const issued = await client.issueToken({ owner: values.owner, role: values.role, ...(expiresIn === undefined ? {} : { expiresInSeconds: expiresIn }) });
      console.error(`token ${issued.id} for ${issued.owner} (${issued.role})${issued.expiresAt ? `, until ${issued.expiresAt}` : ""}; it is shown this once:`);
      console.log(issued.token);
      return 0;
    }
    case "ls": {
      const { values } = parseArgs({ args: rest, options: { all: { type: "boolean" }, json: { type: "boolean" } }, allowPositionals: false });
      const page = await client.listTokens({ limit: 200, status: values.all ? undefined : "active" });
      if (values.json) console.log(JSON.stringify(page.items, null, 2));
      else printTable(page.items, ["id", "owner", "role", "status", "issuedBy", "issuedAt", "expiresAt", "revokedAt"], console.log);
      return 0;
    }
    case "revoke": {
      const { values, positionals } = parseArgs({ args: rest, options: { reason: { type: "string" } }, allowPositionals: true });
      if (positionals.length === 0) throw new Error(usage);
      for (const id of positionals) {
        const token = await client.revokeToken(id, values.reason ? { reason: values.reason } : {});
        console.log(`${token.id} ${token.status}`);
      }
      return 0;
    }
    default:
      throw new Error(usage);
  }
}
