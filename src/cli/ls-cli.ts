import { parseArgs } from "node:util";
import type { DrydockClient } from "../client/drydock-client";

type Row = Record<string, unknown>;

const columns: Record<string, string[]> = {
  leases: ["id", "status", "resourceType", "resourceId", "owner", "requestedAt", "waitReason"],
  resources: ["id", "status", "resourceType", "blueprintId", "liveLeases", "leaseSlots", "allocatedAt", "problem"],
  blueprints: ["id", "name", "kind", "resourceType", "enabled", "liveResources", "resourceLimit", "pool", "failing"],
};

/** Columns made from others: what is wrong, said where an operator looks first. */
const computed: Record<string, (row: Row) => unknown> = {
  problem: (row) => {
    const hold = row.hold as { reason: string; until: string | null; by: string } | null | undefined;
    const held = hold ? `on hold: ${hold.reason} (by ${hold.by}, ${hold.until ? `until ${hold.until}` : "until released"})` : null;
    const other = row.suspectReason ? `suspect: ${String(row.suspectReason)}` : row.status === "broken" ? (row.endReason as string | null) : null;
    return [held, other, failingStepText(row)].filter((p) => p !== null).join("; ") || null;
  },
  // The pool policy (src/domain/pool-policy.ts), the settings that are set, in short.
  pool: (row) => {
    const set = [["minReady", "minReady"], ["maxLeasesPerResource", "maxLeases"], ["maxAgeSeconds", "maxAge"], ["idleDestroySeconds", "idle"]].filter(([field]) => row[field!] != null && row[field!] !== 0);
    return set.length === 0 ? null : set.map(([field, label]) => `${label} ${String(row[field!])}${field!.endsWith("Seconds") ? "s" : ""}`).join(", ");
  },
  failing: (row) => {
    const failing = (row.failingTargets ?? []) as { target: string; message: string }[];
    return failing.length === 0 ? null : failing.map((f) => f.message).join("; ");
  },
};

/** A resource's failing step (src/queries/failing-steps.ts), in short: `teardown failed 3 times (next try …): <error>`. */
function failingStepText(row: Row): string | null {
  const failing = row.failingStep as { step: string; failures: number; lastError: string; nextAttemptAt: string | null } | null | undefined;
  if (!failing) return null;
  const step = failing.step === "destroy" ? "teardown" : failing.step;
  return `${step} failed ${failing.failures} time${failing.failures === 1 ? "" : "s"}${failing.nextAttemptAt ? ` (next try ${failing.nextAttemptAt})` : ""}: ${failing.lastError}`;
}

/** `drydock ls [leases|resources|blueprints] [--status S] [--held] [--all]`: a table, newest first (--held: resources on hold only). */
export async function lsCommand(client: DrydockClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { status: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" }, held: { type: "boolean" } }, allowPositionals: true });
  const what = positionals[0] ?? "leases";
  const cols = columns[what];
  if (!cols) throw new Error(`usage: drydock ls [${Object.keys(columns).join("|")}]`);
  const query = { status: values.status, limit: Number(values.limit ?? 50) };
  const page: { items: Row[] } =
    what === "leases" ? await client.listLeases(query) : what === "resources" ? await client.listResources({ ...query, ...(values.held ? { held: "true" as const } : {}) }) : await client.listBlueprints({ limit: query.limit });
  if (values.json) {
    console.log(JSON.stringify(page.items, null, 2));
    return 0;
  }
  const valueOf = (row: Row, c: string) => (computed[c] ? computed[c](row) : row[c]);
  const cells = [cols, ...page.items.map((row) => cols.map((c) => { const v = valueOf(row, c); return v === null || v === undefined ? "-" : String(v); }))];
  const widths = cols.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) console.log(r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd());
  return 0;
}
