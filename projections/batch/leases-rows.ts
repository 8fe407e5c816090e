import type { RecordedEvent } from "../../events/envelope";
import type { LeaseEventData } from "../../events/lease-events";
import type { BatchProjection } from "./row-set";
import { MissingRowError } from "./row-table";

/** The batch form of projections/leases-projection.ts: the same `leases` rows, in memory. */
export const leasesRows: BatchProjection = {
  name: "leases",
  apply(rows, event: RecordedEvent) {
    if (!event.streamId.startsWith("lease-")) return;
    const id = event.streamId.slice("lease-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    switch (event.type) {
      case "LeaseRequested": {
        const d = event.data as LeaseEventData<"LeaseRequested">;
        rows.leases.insert(d.leaseId, {
          lease_id: d.leaseId,
          resource_type: d.resourceType,
          status: "pending",
          owner: d.owner,
          owner_resource_id: d.ownerResourceId,
          authorizing_object: d.authorizingObject ?? null,
          attributes: d.attributes,
          blueprint_ids: d.blueprintIds,
          resource_id: null,
          blueprint_id: null,
          slot: null,
          expires_at: d.expiresAt ? new Date(d.expiresAt) : null,
          ttl_seconds: d.ttlSeconds,
          ttl_source: d.ttlSource ?? "request",
          retry_at: null,
          wait_reason: null,
          attempts: 0,
          failures: 0,
          working_directory: null,
          end_reason: null,
          requested_at: event.recordedAt,
          acquired_at: null,
          activated_at: null,
          ended_at: null,
          ...base,
        });
        return;
      }
      case "AllocationAttempted":
        rows.leases.update(id, base, { attempts: (event.data as LeaseEventData<"AllocationAttempted">).attempt });
        return;
      case "LeaseWaiting": {
        const d = event.data as LeaseEventData<"LeaseWaiting">;
        rows.leases.update(id, base, { retry_at: new Date(d.retryAt), wait_reason: d.reason });
        return;
      }
      case "LeaseYielded": {
        const d = event.data as LeaseEventData<"LeaseYielded">;
        const row = rows.leases.get(id);
        if (!row) throw new MissingRowError("leases", id, event.type);
        rows.leases.update(id, base, { retry_at: new Date(d.retryAt), wait_reason: d.reason, failures: row.failures + 1 });
        return;
      }
      case "LeaseAcquired": {
        const d = event.data as LeaseEventData<"LeaseAcquired">;
        rows.leases.update(id, base, {
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
        rows.leases.update(id, base, {
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
        rows.leases.update(id, base, {
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
        rows.leases.update(id, base, { expires_at: new Date(d.expiresAt), ttl_seconds: d.ttlSeconds, ttl_source: "renewal" });
        return;
      }
      case "LeaseReleased": {
        const d = event.data as LeaseEventData<"LeaseReleased">;
        rows.leases.update(id, base, { status: "released", end_reason: d.detail ? `${d.reason}: ${d.detail}` : d.reason, ended_at: event.recordedAt, retry_at: null });
        return;
      }
      case "LeaseBroken": {
        const d = event.data as LeaseEventData<"LeaseBroken">;
        rows.leases.update(id, base, { status: "broken", end_reason: d.reason, ended_at: event.recordedAt, retry_at: null });
        return;
      }
      case "LeaseDestroyed":
        rows.leases.update(id, base, { status: "destroyed" });
        return;
      default:
        return;
    }
  },
};
