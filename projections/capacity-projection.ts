import { sql } from "kysely";
import type { RecordedEvent } from "../events/envelope";
import type { LeaseEventData } from "../events/lease-events";
import type { ResourceEventData } from "../events/resource-events";
import { CapacityConflictError } from "../src/domain/errors";
import type { Executor, InlineProjection, PendingEvent } from "../src/store/projection";

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
    switch (event.type) {
      case "LeaseAcquired":
        return takeLocks(db, event.streamId, (event.data as LeaseEventData<"LeaseAcquired">).locks);
      case "ResourceAllocated":
        return takeLocks(db, event.streamId, (event.data as ResourceEventData<"ResourceAllocated">).locks);
      case "LeaseReleased":
      case "LeaseBroken":
      case "LeaseReacquiring":
      case "ResourceDestroyed":
        await db.deleteFrom("slot_locks").where("owner_stream_id", "=", event.streamId).execute();
        return;
      default:
        return;
    }
  },

  async apply(db, event: RecordedEvent) {
    switch (event.type) {
      case "ResourceAllocated": {
        const d = event.data as ResourceEventData<"ResourceAllocated">;
        await db
          .updateTable("blueprints")
          .set({ live_resources: sql`live_resources + 1` })
          .where("blueprint_id", "=", d.blueprintId)
          .execute();
        return;
      }
      case "ResourceDestroyed": {
        const resource = await db
          .selectFrom("resources")
          .select("blueprint_id")
          .where("resource_id", "=", event.streamId.slice("resource-".length))
          .executeTakeFirstOrThrow();
        await db
          .updateTable("blueprints")
          .set({ live_resources: sql`live_resources - 1` })
          .where("blueprint_id", "=", resource.blueprint_id)
          .execute();
        return;
      }
      default:
        return;
    }
  },
};

async function takeLocks(db: Executor, owner: string, locks: readonly string[]): Promise<void> {
  if (locks.length === 0) return;
  // ON CONFLICT DO NOTHING waits for a concurrent holder to commit or roll back, then tells us
  // whether we got the row: a lost race is a typed conflict, not an aborted transaction.
  const taken = await db
    .insertInto("slot_locks")
    .values(locks.map((lock_key) => ({ lock_key, owner_stream_id: owner })))
    .onConflict((oc) => oc.column("lock_key").doNothing())
    .returning("lock_key")
    .execute();
  if (taken.length !== locks.length) {
    const got = new Set(taken.map((t) => t.lock_key));
    throw new CapacityConflictError(locks.filter((l) => !got.has(l)));
  }
}
