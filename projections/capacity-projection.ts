import { sql, type CompiledQuery } from "kysely";
import { CompiledShapes } from "../src/store/compiled-once";
import type { RecordedEvent } from "../events/envelope";
import { CapacityConflictError } from "../src/domain/errors";
import type { Executor, InlineProjection, PendingEvent } from "../src/store/projection";
import { leaseSlotPrefix, lockOwner, scopeOfLock } from "../src/allocator/slot-keys";
import { liveResourcesChange, lockChange } from "./capacity-changes";

/**
 * The capacity view: slot locks (the hard guard) and live resources per blueprint. A lease holds
 * its slot from acquire until it is released, broken or sent back to pending; a resource holds
 * its blueprint slot until destroyed, because a released cloud instance still costs until it is
 * gone. Live leases per resource are the lease slot locks held on it, counted when read: a
 * counter on the resource row made every acquire and release of a busy resource queue for that
 * one row lock (the lease-cycle benchmark ran at a third of its speed).
 */
export const capacityProjection: InlineProjection = {
  name: "capacity",

  async claim(db, event: PendingEvent) {
    const change = lockChange(event);
    if (!change) return;
    if ("take" in change) return takeLocks(db, event.streamId, change.take);
    await freeLocks(db, event.streamId, change).execute();
  },

  /**
   * A stream's lock changes as plain writes: taken locks are a plain INSERT, whose unique
   * violation aborts the one statement the append is (append-statement.ts names the lock).
   * An append that both frees and takes, or changes live resources, runs in a transaction: one
   * statement cannot delete and insert the same key, nor see which blueprint a resource is of.
   */
  plan({ streamId, events, db }) {
    const changes = events.map(lockChange).filter((c) => c !== null);
    if (events.some((e) => liveResourcesChange(e) !== null)) return null;
    if (changes.length === 0) return [];
    if (changes.length > 1) return null;
    const change = changes[0]!;
    if ("take" in change && change.take.length === 0) return [];
    // RETURNING: the append's statement reads this write to run it before the events (PlannedWrite.beforeEvents).
    const query = "take" in change ? takeLocksQuery(db, streamId, change.take) : freeLocksQuery(db, streamId, change);
    return [{ query, beforeEvents: true }];
  },

  async apply(db, event: RecordedEvent) {
    const change = liveResourcesChange(event);
    if (!change) return;
    const blueprintId =
      "blueprintId" in change
        ? change.blueprintId
        : (await db.selectFrom("resources").select("blueprint_id").where("resource_id", "=", change.resourceId).executeTakeFirstOrThrow()).blueprint_id;
    await db
      .updateTable("blueprints")
      .set({ live_resources: sql`live_resources + ${change.delta}` })
      .where("blueprint_id", "=", blueprintId)
      .execute();
  },
};

function freeLocks(db: Executor, owner: string, change: { free: true } | { freeSlotsOf: string }) {
  const mine = db.deleteFrom("slot_locks").where("owner_stream_id", "=", owner);
  // Its own lease slots only (scope_id is indexed): the resource keeps its blueprint slot.
  if ("freeSlotsOf" in change) return mine.where("scope_id", "=", change.freeSlotsOf).where("lock_key", "like", `${leaseSlotPrefix(change.freeSlotsOf)}%`);
  return mine;
}

/** Every append that takes or frees a slot sends one of these: compiled once per shape (compiled-once.ts). */
const lockShapes = new CompiledShapes();

/** A plain INSERT of the locks, RETURNING them: a lock another stream holds aborts the statement. */
function takeLocksQuery(db: Executor, owner: string, locks: readonly string[]): CompiledQuery {
  const args: Record<string, string> = {};
  lockRows(owner, locks).forEach((row, i) => {
    args[`key${i}`] = row.lock_key;
    args[`owner${i}`] = row.owner_stream_id;
    args[`scope${i}`] = row.scope_id;
  });
  return lockShapes.compile(db, `take-${locks.length}`, args, (db, a) =>
    db
      .insertInto("slot_locks")
      .values(locks.map((_, i) => ({ lock_key: a[`key${i}`]!, owner_stream_id: a[`owner${i}`]!, scope_id: a[`scope${i}`]! })))
      .returning("lock_key"),
  );
}

function freeLocksQuery(db: Executor, owner: string, change: { free: true } | { freeSlotsOf: string }): CompiledQuery {
  if ("freeSlotsOf" in change) {
    const args = { owner, scope: change.freeSlotsOf, pattern: `${leaseSlotPrefix(change.freeSlotsOf)}%` };
    return lockShapes.compile(db, "free-slots-of", args, (db, a) =>
      db.deleteFrom("slot_locks").where("owner_stream_id", "=", a.owner).where("scope_id", "=", a.scope).where("lock_key", "like", a.pattern).returning("lock_key"),
    );
  }
  return lockShapes.compile(db, "free", { owner }, (db, a) => db.deleteFrom("slot_locks").where("owner_stream_id", "=", a.owner).returning("lock_key"));
}

function lockRows(owner: string, locks: readonly string[]) {
  return locks.map((lock_key) => ({ lock_key, owner_stream_id: lockOwner(lock_key, owner), scope_id: scopeOfLock(lock_key) }));
}

async function takeLocks(db: Executor, owner: string, locks: readonly string[]): Promise<void> {
  if (locks.length === 0) return;
  // ON CONFLICT DO NOTHING waits for a concurrent holder to commit or roll back, then tells us
  // whether we got the row: a lost race is a typed conflict, not an aborted transaction.
  const taken = await db
    .insertInto("slot_locks")
    .values(lockRows(owner, locks))
    .onConflict((oc) => oc.column("lock_key").doNothing())
    .returning("lock_key")
    .execute();
  if (taken.length !== locks.length) {
    const got = new Set(taken.map((t) => t.lock_key));
    throw new CapacityConflictError(locks.filter((l) => !got.has(l)));
  }
}
