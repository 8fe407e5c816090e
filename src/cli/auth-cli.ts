import { parseArgs } from "node:util";
import type { DrydockClient } from "../client/drydock-client";
import type { Authorization } from "../client/wire-types";
import { printTable } from "./print-table";


const usage = `usage: drydock auth ls [--client NAME] [--blueprint ID] [--state S] [--json]
       drydock auth request BLUEPRINT_ID [--client NAME|blueprint:ID]
       drydock auth approve|decline AUTHORIZATION_ID [--reason TEXT]
       drydock auth revoke AUTHORIZATION_ID [--reason TEXT] [--release-leases]`;

/** `drydock auth …`: ask to use a blueprint, and (admin) approve, decline or revoke. */
export async function authCommand(client: DrydockClient, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      client: { type: "string" },
      blueprint: { type: "string" },
      state: { type: "string" },
      reason: { type: "string" },
      "release-leases": { type: "boolean" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  const show = (a: Authorization) => console.log(`${a.id} ${a.client} on ${a.blueprintId}: ${a.state}`);
  const [id] = positionals;
  switch (sub) {
    case "ls": {
      const page = await client.listAuthorizations({ limit: 200, client: values.client, blueprintId: values.blueprint, state: values.state });
      if (values.json) console.log(JSON.stringify(page.items, null, 2));
      else printTable(page.items, ["id", "blueprintId", "client", "state", "requestedBy", "decidedBy", "reason"], console.log);
      return 0;
    }
    case "request":
      if (!id) throw new Error(usage);
      show(await client.requestAuthorization(id, values.client ? { client: values.client } : {}));
      return 0;
    case "approve":
      if (!id) throw new Error(usage);
      show(await client.approveAuthorization(id));
      return 0;
    case "decline":
      if (!id) throw new Error(usage);
      show(await client.declineAuthorization(id, values.reason ? { reason: values.reason } : {}));
      return 0;
    case "revoke": {
      if (!id) throw new Error(usage);
      const revoked = await client.revokeAuthorization(id, {
        ...(values.reason ? { reason: values.reason } : {}),
        ...(values["release-leases"] ? { releaseLeases: true } : {}),
      });
      show(revoked);
      for (const leaseId of revoked.releasedLeaseIds) console.log(`${leaseId} released`);
      return 0;
    }
    default:
      throw new Error(usage);
  }
}
