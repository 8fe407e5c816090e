import { parseArgs } from "node:util";
import type { LeaseExplanation } from "../history/explain-lease";
import { formatExplanation } from "../history/format-explanation";
import type { DrydockClient } from "../client/drydock-client";
import { explainResourceLines } from "../history/explain-resource";

export const explainUsage = "usage: drydock explain lease LEASE_ID [--json] | drydock explain resource RESOURCE_ID [--json]";

/**
 * `drydock explain lease ID`: why the lease waited, from its events (through the API).
 * `drydock explain resource ID` (admin): why the resource was built and what ended it (a pool
 * policy, a failure, a hold), from its events.
 */
export async function explainCommand(client: DrydockClient, args: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: "boolean" } }, allowPositionals: true });
  const [what, id] = positionals;
  if ((what !== "lease" && what !== "resource") || !id || positionals.length > 2) throw new Error(explainUsage);
  if (what === "resource") {
    const { items } = await client.resourceEvents(id);
    if (values.json) out(JSON.stringify(items, null, 2));
    else for (const line of explainResourceLines(items)) out(line);
    return 0;
  }
  const explanation: LeaseExplanation = await client.explainLease(id);
  if (values.json) out(JSON.stringify(explanation, null, 2));
  else for (const line of formatExplanation(explanation)) out(line);
  return 0;
}
