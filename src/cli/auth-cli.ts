import { parseArgs } from "node:util";
import type { DrydockClient } from "./api-client";
import { printTable } from "./print-table";

interface Authorization {
  id: string;
  blueprintId: string;
  client: string;
  state: string;
  requestedBy: string;
  decidedBy: string | null;
  reason: string | null;
}

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
      const query = new URLSearchParams({ limit: "200" });
      if (values.client) query.set("client", values.client);
      if (values.blueprint) query.set("blueprintId", values.blueprint);
      if (values.state) query.set("state", values.state);
      const page = await client.request<{ items: Authorization[] }>("GET", `/v1/authorizations?${query}`);
      if (values.json) console.log(JSON.stringify(page.items, null, 2));
      else printTable(page.items, ["id", "blueprintId", "client", "state", "requestedBy", "decidedBy", "reason"], console.log);
      return 0;
    }
    case "request":
      if (!id) throw new Error(usage);
      show(await client.request<Authorization>("POST", `/v1/blueprints/${encodeURIComponent(id)}/authorizations`, values.client ? { client: values.client } : {}));
      return 0;
    case "approve":
      if (!id) throw new Error(usage);
      show(await client.request<Authorization>("POST", `/v1/authorizations/${encodeURIComponent(id)}/approve`));
      return 0;
    case "decline":
      if (!id) throw new Error(usage);
      show(await client.request<Authorization>("POST", `/v1/authorizations/${encodeURIComponent(id)}/decline`, values.reason ? { reason: values.reason } : {}));
      return 0;
    case "revoke": {
      if (!id) throw new Error(usage);
      const revoked = await client.request<Authorization & { releasedLeaseIds: string[] }>("POST", `/v1/authorizations/${encodeURIComponent(id)}/revoke`, {
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
