import type { RecordedEvent } from "../events/envelope";
import type { LeaseEventData } from "../events/lease-events";
import type { InlineProjection } from "../src/store/projection";

/** The `leases` table: what the API lists and the allocator reads. */
export const leasesProjection: InlineProjection = {
  name: "leases",
  async apply(db, event: RecordedEvent) {
    if (!event.streamId.startsWith("lease-")) return;
    const id = event.streamId.slice("lease-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    const update = (set: Record<string, unknown>) =>
      db
        .updateTable("leases")
        .set({ ...base, ...set })
        .where("lease_id", "=", id)
        .execute();
    switch (event.type) {
      case "LeaseRequested": {
        const d = event.data as LeaseEventData<"LeaseRequested">;
        await db
          .insertInto("leases")
          .values({
            lease_id: d.leaseId,
            resource_type: d.resourceType,
            status: "pending",
            owner: d.owner,
            owner_resource_id: d.ownerResourceId,
            authorizing_object: d.authorizingObject ?? null,
            attributes: JSON.stringify(d.attributes),
            blueprint_ids: JSON.stringify(d.blueprintIds),
            expires_at: d.expiresAt ? new Date(d.expiresAt) : null,
            ttl_seconds: d.ttlSeconds,
            ttl_source: d.ttlSource ?? "request",
            attempts: 0,
            failures: 0,
            requested_at: event.recordedAt,
            ...base,
          })
          .execute();
        return;
      }
      case "AllocationAttempted": {
        const d = event.data as LeaseEventData<"AllocationAttempted">;
        await update({ attempts: d.attempt });
        return;
      }
      case "LeaseWaiting": {
        const d = event.data as LeaseEventData<"LeaseWaiting">;
        await update({ retry_at: new Date(d.retryAt), wait_reason: d.reason });
        return;
      }
      case "LeaseYielded": {
        const d = event.data as LeaseEventData<"LeaseYielded">;
        const row = await db.selectFrom("leases").select("failures").where("lease_id", "=", id).executeTakeFirstOrThrow();
        await update({ retry_at: new Date(d.retryAt), wait_reason: d.reason, failures: row.failures + 1 });
        return;
      }
      case "LeaseAcquired": {
        const d = event.data as LeaseEventData<"LeaseAcquired">;
        await update({
          status: "acquired",
          resource_id: d.resourceId,
          blueprint_id: d.blueprintId,
          slot: d.slot,
          acquired_at: event.recordedAt,
          retry_at: null,
          wait_reason: null,
          failures: 0,
          ...(d.blueprintTtl ? { ttl_seconds: d.blueprintTtl.ttlSeconds, expires_at: new Date(d.blueprintTtl.expiresAt), ttl_source: "blueprint" } : {}),
        });
        return;
      }
      case "LeaseActivated": {
        const d = event.data as LeaseEventData<"LeaseActivated">;
        await update({
          status: "active",
          working_directory: d.workingDirectory,
          activated_at: event.recordedAt,
          retry_at: null,
          wait_reason: null,
          failures: 0,
        });
        return;
      }
      case "LeaseReacquiring":
        await update({
          status: "pending",
          resource_id: null,
          blueprint_id: null,
          slot: null,
          acquired_at: null,
          retry_at: null,
          wait_reason: null,
          failures: 0,
        });
        return;
      case "LeaseRenewed": {
        const d = event.data as LeaseEventData<"LeaseRenewed">;
        await update({ expires_at: new Date(d.expiresAt), ttl_seconds: d.ttlSeconds, ttl_source: "renewal" });
        return;
      }
      case "LeaseReleased": {
        const d = event.data as LeaseEventData<"LeaseReleased">;
        await update({
          status: "released",
          end_reason: d.detail ? `${d.reason}: ${d.detail}` : d.reason,
          ended_at: event.recordedAt,
          retry_at: null,
        });
        return;
      }
      case "LeaseBroken": {
        const d = event.data as LeaseEventData<"LeaseBroken">;
        await update({ status: "broken", end_reason: d.reason, ended_at: event.recordedAt, retry_at: null });
        return;
      }
      case "LeaseDestroyed":
        await update({ status: "destroyed" });
        return;
      default:
        return;
    }
  },
};
