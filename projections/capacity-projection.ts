import { sql } from "kysely";
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
    if ("freeSlotsOf" in change) {
      // Its own lease slots only (scope_id is indexed): the resource keeps its blueprint slot.
      await db.deleteFrom("slot_locks").where("owner_stream_id", "=", event.streamId).where("scope_id", "=", change.freeSlotsOf).where("lock_key", "like", `${leaseSlotPrefix(change.freeSlotsOf)}%`).execute();
      return;
    }
    await db.deleteFrom("slot_locks").where("owner_stream_id", "=", event.streamId).execute();
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

async function takeLocks(db: Executor, owner: string, locks: readonly string[]): Promise<void> {
  if (locks.length === 0) return;
  // ON CONFLICT DO NOTHING waits for a concurrent holder to commit or roll back, then tells us
  // whether we got the row: a lost race is a typed conflict, not an aborted transaction.
  const taken = await db
    .insertInto("slot_locks")
    .values(locks.map((lock_key) => ({ lock_key, owner_stream_id: lockOwner(lock_key, owner), scope_id: scopeOfLock(lock_key) })))
    .onConflict((oc) => oc.column("lock_key").doNothing())
    .returning("lock_key")
    .execute();
  if (taken.length !== locks.length) {
    const got = new Set(taken.map((t) => t.lock_key));
    throw new CapacityConflictError(locks.filter((l) => !got.has(l)));
  }
}
