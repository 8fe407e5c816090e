import type { ProjectionTable } from "../src/store/schema";
import type { InlineProjection, ProjectedEvent } from "../src/store/projection";
import { applyRowChange, composeRowChanges, rowWriteQuery, type Returned, type RowChange } from "./row-change";

export interface RowProjectionSpec<Row> {
  name: string;
  /** The stream type whose streams own one row each (`lease` for `lease-…`). */
  streamType: string;
  table: ProjectionTable;
  column: string;
  json?: readonly string[];
  change: (event: ProjectedEvent) => RowChange<Row> | null;
  /** Columns later projections of the same append read (the work projection): kept in the scratch. */
  returning?: readonly Returned[];
}

/**
 * A projection that keeps one row per stream. In an append it writes each stream's row once, with
 * the changes of all the stream's events composed, and hands the columns the work projection
 * needs to the append's context (RETURNING), so nothing reads back a row this transaction wrote.
 */
export function rowProjection<Row>(spec: RowProjectionSpec<Row>): InlineProjection {
  const prefix = `${spec.streamType}-`;
  const changeOf = (events: readonly ProjectedEvent[]) => composeRowChanges(events.map(spec.change).filter((c): c is RowChange<Row> => c !== null));
  const keyOf = (streamId: string) => ({ table: spec.table, column: spec.column, value: streamId.slice(prefix.length), json: spec.json });
  const write = async (db: Parameters<InlineProjection["apply"]>[0], events: readonly ProjectedEvent[], rows: Map<string, Record<string, unknown>> | null) => {
    const streamId = events[0]!.streamId;
    if (!streamId.startsWith(prefix)) return;
    const change = changeOf(events);
    if (!change) return;
    const row = await applyRowChange(db, keyOf(streamId), change, rows ? (spec.returning ?? []) : []);
    if (row && rows) rows.set(streamId, row);
  };
  return {
    name: spec.name,
    apply: (db, event) => write(db, [event], null),
    applyStream: (db, events, append) => write(db, events, append.rows),
    plan({ streamId, events, db }) {
      if (!streamId.startsWith(prefix)) return [];
      const change = changeOf(events);
      if (!change) return [];
      // A change computed from the row as it is (a counter) needs to read it first.
      if ("derive" in change) return null;
      const returning = spec.returning ?? [];
      const query = rowWriteQuery(db, keyOf(streamId), change, returning);
      return [returning.length > 0 ? { query, returnsRow: true } : { query }];
    },
  };
}
