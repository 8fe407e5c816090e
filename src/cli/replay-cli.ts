import { parseArgs } from "node:util";
import { inlineProjections } from "../../projections/index";
import { formatDifference } from "../history/compare-projections";
import { leaseRecordOfState, resourceLoadsOf, resourceRecordOfState } from "../history/records-of-state";
import { StateAt, type Moment } from "../history/state-at";
import type { Database } from "../store/database";
import { checkProjections } from "../store/check-projections";
import { PostgresEventStore } from "../store/event-store";
import { rebuildProjections } from "../store/rebuild-projections";
import { printTable } from "./print-table";

export const replayUsage = "usage: drydock replay [--check | --as-of TIME | --to POSITION] [--json]";

/**
 * `drydock replay`: rebuild every projection from the log and swap them in (one transaction);
 * `--check`: rebuild, compare with the live tables, roll back, print every difference (exit 1
 * if any); `--as-of TIME` / `--to POSITION`: print every lease and resource as it was then.
 */
export async function replayCommand(database: Database, args: string[], out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { check: { type: "boolean" }, "as-of": { type: "string" }, to: { type: "string" }, json: { type: "boolean" } },
    allowPositionals: false,
  });
  const moment: Moment = {};
  if (values["as-of"] !== undefined) {
    const asOf = new Date(values["as-of"]);
    if (Number.isNaN(asOf.getTime())) throw new Error(`--as-of takes an ISO time (2026-01-01T12:00:00Z), not ${values["as-of"]}`);
    moment.asOf = asOf;
  }
  if (values.to !== undefined) {
    const to = Number(values.to);
    if (!Number.isInteger(to) || to < 0) throw new Error(`--to takes a global position, not ${values.to}`);
    moment.toPosition = to;
  }
  if (values.check && (moment.asOf || moment.toPosition !== undefined)) throw new Error(`--check compares the whole log; ${replayUsage}`);
  if (moment.asOf || moment.toPosition !== undefined) return printStateAt(database, moment, values.json ?? false, out);

  const started = performance.now();
  if (values.check) {
    const { events, rows, differences, mode, batchedFailure } = await checkProjections(database.db, inlineProjections);
    if (values.json) out(JSON.stringify({ events, rows, differences, mode, batchedFailure }, null, 2));
    else {
      if (batchedFailure) out(fellBack(batchedFailure));
      for (const d of differences) out(formatDifference(d));
      out(
        differences.length === 0
          ? `no differences: the live projections (${rows} rows) match a rebuild from ${events} events`
          : `${differences.length} difference${differences.length === 1 ? "" : "s"} between the live projections and a rebuild from ${events} events`,
      );
    }
    return differences.length === 0 ? 0 : 1;
  }
  const { events, batchedFailure } = await rebuildProjections(database.db, inlineProjections);
  const seconds = (performance.now() - started) / 1000;
  if (batchedFailure) out(fellBack(batchedFailure));
  out(`rebuilt every projection from ${events} events in ${seconds.toFixed(2)} s (${Math.round(events / Math.max(seconds, 1e-3))} events/s) and swapped them in`);
  return 0;
}

/** The batched replay gave up (an illegal log, see rebuildProjections): say so, and why. */
function fellBack(reason: string): string {
  return `the batched replay stopped (${reason}); replayed event by event through the projections instead`;
}

async function printStateAt(database: Database, moment: Moment, json: boolean, out: (line: string) => void): Promise<number> {
  const store = new PostgresEventStore(database.db, [], { now: () => new Date() });
  const state = new StateAt(moment);
  for (let after = 0; ; ) {
    const batch = await store.readByPosition(after, 5000);
    if (batch.length === 0) break;
    for (const e of batch) {
      if (moment.toPosition !== undefined && e.globalPosition > moment.toPosition) break;
      state.add(e);
    }
    after = batch.at(-1)!.globalPosition;
    if (moment.toPosition !== undefined && after >= moment.toPosition) break;
  }
  const leases = state.leases().map(leaseRecordOfState).sort((a, b) => a.id.localeCompare(b.id));
  const loads = resourceLoadsOf(state.leases());
  const resources = state
    .resources()
    .map((r) => resourceRecordOfState(r, loads.get(r.context.resourceId)))
    .sort((a, b) => a.id.localeCompare(b.id));
  const at = [moment.asOf ? `at ${moment.asOf.toISOString()}` : null, moment.toPosition !== undefined ? `up to position ${moment.toPosition}` : null].filter(Boolean).join(", ");
  if (json) {
    out(JSON.stringify({ moment: { asOf: moment.asOf?.toISOString() ?? null, toPosition: moment.toPosition ?? null }, events: state.events, leases, resources }, null, 2));
    return 0;
  }
  const count = (items: { status: string }[]) => {
    const by = new Map<string, number>();
    for (const i of items) by.set(i.status, (by.get(i.status) ?? 0) + 1);
    return [...by].map(([s, n]) => `${n} ${s}`).join(", ") || "none";
  };
  out(`state ${at}, folded from ${state.events} events`);
  out(`leases (${leases.length}): ${count(leases)}`);
  printTable(leases, ["id", "status", "resourceType", "resourceId", "owner", "requestedAt", "endedAt"], out);
  out(`resources (${resources.length}): ${count(resources)}`);
  printTable(resources, ["id", "status", "blueprintId", "liveLeases", "leaseSlots", "allocatedAt", "endedAt"], out);
  return 0;
}
