import type { Selectable } from "kysely";
import type { RecordedEvent } from "../../events/envelope";
import { leaseFolder, resourceFolder, tokenFolder } from "../../src/machines/fold";
import type {
  AuthorizationsTable,
  BlueprintsTable,
  LeasesTable,
  ProjectionTable,
  ResourcesTable,
  SlotLocksTable,
  TokensTable,
  WorkItemsTable,
} from "../../src/store/schema";
import { RowTable } from "./row-table";

/**
 * The batch form of an inline projection: the same rows from the same events, computed in memory
 * over a page of the log and written by the rebuild a page at a time, instead of a few SQL
 * statements per event. The leases, resources, blueprints, tokens and authorizations rows are
 * defined once (projections/*-row-changes.ts) and applied by both forms; capacity and work keep
 * a form each, and test/integration/batched-rebuild.test.ts holds every form equal to the live
 * tables and to the per-event rebuild.
 */
export interface BatchProjection {
  /** The inline projection this is the batch form of (InlineProjection.name). */
  readonly name: string;
  /** As InlineProjection.claim: runs for every event before any `apply` of that event. */
  claim?(rows: RowSet, event: RecordedEvent): void;
  apply(rows: RowSet, event: RecordedEvent): void;
}

/** The projection tables' rows as the database returns them (Date, parsed JSON). */
export type LeaseRow = Selectable<LeasesTable>;
export type ResourceRow = Selectable<ResourcesTable>;
export type BlueprintRow = Selectable<BlueprintsTable>;
export type SlotLockRow = Selectable<SlotLocksTable>;
export type WorkItemRow = Selectable<WorkItemsTable>;
export type TokenRow = Selectable<TokensTable>;
export type AuthorizationRow = Selectable<AuthorizationsTable>;

export interface RowSet {
  readonly leases: RowTable<LeaseRow>;
  readonly resources: RowTable<ResourceRow>;
  readonly blueprints: RowTable<BlueprintRow>;
  readonly slot_locks: RowTable<SlotLockRow>;
  readonly work_items: RowTable<WorkItemRow>;
  readonly tokens: RowTable<TokenRow>;
  readonly authorizations: RowTable<AuthorizationRow>;
  /** owner stream -> the slot-lock keys it holds (the `slot_locks_owner` index, for releases). */
  readonly locksByOwner: Map<string, Set<string>>;
}

/** A status the stream's machine leaves by no event (destroyed, revoked): its row is done. */
function endedIn(table: ReadonlyMap<string, ReadonlyMap<string, unknown>>): (status: string) => boolean {
  const final = new Set([...table].filter(([, events]) => events.size === 0).map(([status]) => status));
  return (status) => final.has(status);
}
const leaseEnded = endedIn(leaseFolder.compiled.table);
const resourceEnded = endedIn(resourceFolder.compiled.table);
const tokenEnded = endedIn(tokenFolder.compiled.table);

/** Empty tables, as the rebuild starts with. */
export function createRowSet(): RowSet {
  return {
    leases: new RowTable<LeaseRow>("leases", (r) => leaseEnded(r.status)),
    resources: new RowTable<ResourceRow>("resources", (r) => resourceEnded(r.status)),
    blueprints: new RowTable<BlueprintRow>("blueprints"),
    slot_locks: new RowTable<SlotLockRow>("slot_locks"),
    work_items: new RowTable<WorkItemRow>("work_items"),
    tokens: new RowTable<TokenRow>("tokens", (r) => tokenEnded(r.status)),
    authorizations: new RowTable<AuthorizationRow>("authorizations"),
    locksByOwner: new Map(),
  };
}

/** What the rebuild's writer needs of a table (rows are written column by column, by name). */
export interface WritableTable {
  readonly table: ProjectionTable;
  takeChanged(finalOnly: boolean): object[];
}

/** Every table of the set, by projection table name. */
export function tablesOf(rows: RowSet): Record<ProjectionTable, WritableTable> {
  return {
    blueprints: rows.blueprints,
    resources: rows.resources,
    leases: rows.leases,
    slot_locks: rows.slot_locks,
    work_items: rows.work_items,
    tokens: rows.tokens,
    authorizations: rows.authorizations,
  };
}
