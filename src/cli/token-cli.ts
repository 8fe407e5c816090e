import { parseArgs } from "node:util";
import type { DrydockClient } from "../client/drydock-client";
import { printTable } from "./print-table";


const usage = "usage: drydock token create --owner NAME --role client|admin|metrics [--expires-in SECONDS] [--max-live-leases N] [--max-live-leases-of TYPE=N]... | drydock token quota TOKEN_ID (--max-live-leases N | --max-live-leases-of TYPE=N... | --none) | drydock token ls [--all] [--json] | drydock token revoke TOKEN_ID [--reason TEXT]";

/**
 * `drydock token …` (admin): issue, list and revoke tokens. `create` prints the token alone on
 * stdout, so `TOKEN=$(drydock token create …)` keeps it out of the terminal's scrollback.
 */
export async function tokenCommand(client: DrydockClient, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "create": {
      const { values } = parseArgs({
        args: rest,
        options: { owner: { type: "string" }, role: { type: "string" }, "expires-in": { type: "string" }, "max-live-leases": { type: "string" }, "max-live-leases-of": { type: "string", multiple: true } },
        allowPositionals: false,
      });
      if (!values.owner || (values.role !== "client" && values.role !== "admin" && values.role !== "metrics")) throw new Error(usage);
      const expiresIn = values["expires-in"] === undefined ? undefined : Number(values["expires-in"]);
      const leaseQuota = quotaOf(values["max-live-leases"], values["max-live-leases-of"]);
      const issued = await client.issueToken({ owner: values.owner, role: values.role, ...(expiresIn === undefined ? {} : { expiresInSeconds: expiresIn }), ...(leaseQuota ? { leaseQuota } : {}) });
      console.error(`token ${issued.id} for ${issued.owner} (${issued.role})${issued.expiresAt ? `, until ${issued.expiresAt}` : ""}; it is shown this once:`);
      console.log(issued.token);
      return 0;
    }
    case "quota": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { "max-live-leases": { type: "string" }, "max-live-leases-of": { type: "string", multiple: true }, none: { type: "boolean" } },
        allowPositionals: true,
      });
      const leaseQuota = quotaOf(values["max-live-leases"], values["max-live-leases-of"]);
      if (positionals.length !== 1 || (leaseQuota === undefined) === !values.none) throw new Error(usage);
      const changed = await client.changeTokenQuota(positionals[0]!, { leaseQuota: leaseQuota ?? null });
      const waiting = changed.leasesChanged.length;
      console.log(`${changed.id} ${changed.owner}: ${changed.leaseQuota ? JSON.stringify(changed.leaseQuota) : "no quota"}; ${waiting} waiting lease${waiting === 1 ? "" : "s"} now carr${waiting === 1 ? "ies" : "y"} it`);
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

/** `--max-live-leases N` and `--max-live-leases-of TYPE=N`: the token's lease quota (the service checks the numbers). */
function quotaOf(all: string | undefined, ofType: string[] | undefined) {
  if (all === undefined && !ofType?.length) return undefined;
  const byResourceType: Record<string, number> = {};
  for (const entry of ofType ?? []) {
    const eq = entry.indexOf("=");
    if (eq < 1) throw new Error(`--max-live-leases-of takes TYPE=N, not ${entry}`);
    byResourceType[entry.slice(0, eq)] = Number(entry.slice(eq + 1));
  }
  return { ...(all === undefined ? {} : { maxLiveLeases: Number(all) }), ...(Object.keys(byResourceType).length ? { byResourceType } : {}) };
}
