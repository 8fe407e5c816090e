import { sql } from "kysely";
import type { RecordedEvent } from "../events/envelope";
import type { Executor, InlineProjection } from "../src/store/projection";
import { leaseWork, resourceWork, type ScheduledWork } from "./work-schedule";

/** Waiting leases a blueprint change wakes (it may open any amount of capacity). */
const WAKE_ON_BLUEPRINT_CHANGE = 16;

/**
 * The durable work queue. Each stream that needs a worker has one row, recomputed from its
 * projected row after every event, so a rebuild from the log reproduces it; a new event also
 * drops any claim on the row, since the claimed step has moved on. An event that frees capacity
 * wakes as many of the oldest waiting leases of that resource type as it freed slots, instead of
 * leaving them to their backoff: first come, first served, and no herd retrying for one slot.
 *
 * Must run after the leases and resources projections.
 */
export const workProjection: InlineProjection = {
  name: "work",
  async apply(db, event: RecordedEvent) {
    const at = event.recordedAt;
    if (event.streamId.startsWith("lease-")) {
      const lease = await db
        .selectFrom("leases")
        .select(["lease_id", "status", "retry_at", "expires_at", "resource_type", "owner_resource_id"])
        .where("lease_id", "=", event.streamId.slice("lease-".length))
        .executeTakeFirstOrThrow();
      await schedule(db, event.streamId, leaseWork(lease, at));
      if (event.type === "LeaseReleased" || event.type === "LeaseBroken" || event.type === "LeaseReacquiring") {
        await wakeWaitingLeases(db, lease.resource_type, at, 1);
      }
      if (lease.owner_resource_id && (event.type === "LeaseActivated" || event.type === "LeaseReleased" || event.type === "LeaseBroken")) {
        await wake(db, [`resource-${lease.owner_resource_id}`], "activate", at);
      }
      return;
    }
    if (event.streamId.startsWith("resource-")) {
      const resource = await db
        .selectFrom("resources")
        .select(["resource_id", "status", "retry_at", "resource_type", "lease_slots", "live_leases"])
        .where("resource_id", "=", event.streamId.slice("resource-".length))
        .executeTakeFirstOrThrow();
      await schedule(db, event.streamId, resourceWork(resource, at));
      if (event.type === "ResourceActivated") {
        const acquired = await db
          .selectFrom("leases")
          .select("lease_id")
          .where("resource_id", "=", resource.resource_id)
          .where("status", "=", "acquired")
          .execute();
        await wake(db, acquired.map((l) => `lease-${l.lease_id}`), "activate", at);
      }
      if (event.type === "ResourceActivated") {
        await wakeWaitingLeases(db, resource.resource_type, at, Math.max(0, resource.lease_slots - resource.live_leases));
      }
      if (event.type === "ResourceDestroyed") await wakeWaitingLeases(db, resource.resource_type, at, 1);
      return;
    }
    if (event.streamId.startsWith("blueprint-")) {
      const blueprint = await db
        .selectFrom("blueprints")
        .select("resource_type")
        .where("blueprint_id", "=", event.streamId.slice("blueprint-".length))
        .executeTakeFirstOrThrow();
      await wakeWaitingLeases(db, blueprint.resource_type, at, WAKE_ON_BLUEPRINT_CHANGE);
    }
  },
};

async function schedule(db: Executor, streamId: string, work: ScheduledWork<string> | null): Promise<void> {
  if (!work) {
    await db.deleteFrom("work_items").where("stream_id", "=", streamId).execute();
    return;
  }
  await db
    .insertInto("work_items")
    .values({ stream_id: streamId, kind: work.kind, run_at: work.runAt, claimed_by: null, claimed_until: null })
    .onConflict((oc) =>
      oc.column("stream_id").doUpdateSet({ kind: work.kind, run_at: work.runAt, claimed_by: null, claimed_until: null }),
    )
    .execute();
}

async function wake(db: Executor, streamIds: readonly string[], kind: string, at: Date): Promise<void> {
  if (streamIds.length === 0) return;
  await db
    .updateTable("work_items")
    .set({ run_at: at })
    .where("stream_id", "in", streamIds)
    .where("kind", "=", kind)
    .where("run_at", ">", at)
    .execute();
}

async function wakeWaitingLeases(db: Executor, resourceType: string, at: Date, count: number): Promise<void> {
  if (count <= 0) return;
  const waiting = await sql<{ lease_id: string }>`
    SELECT l.lease_id FROM leases l JOIN work_items w ON w.stream_id = 'lease-' || l.lease_id
     WHERE l.status = 'pending' AND l.resource_type = ${resourceType} AND w.run_at > ${at}
     ORDER BY l.requested_at, l.lease_id
     LIMIT ${count}`.execute(db);
  await wake(db, waiting.rows.map((l) => `lease-${l.lease_id}`), "allocate", at);
}
