import type { Selectable } from "kysely";
import type { ProjectedEvent } from "../src/store/projection";
import type { LeaseEventData } from "../events/lease-events";
import type { LeasesTable } from "../src/store/schema";
import type { RowChange } from "./row-change";

export type LeaseRow = Selectable<LeasesTable>;
export const LEASE_JSON_COLUMNS = ["attributes", "blueprint_ids", "lease_quota"] as const;

/** What a lease event does to its `leases` row (null: nothing); the one definition of that row. */
export function leaseRowChange(event: ProjectedEvent): RowChange<LeaseRow> | null {
  switch (event.type) {
    case "LeaseRequested": {
      const d = event.data as LeaseEventData<"LeaseRequested">;
      return {
        insert: {
          lease_id: d.leaseId,
          resource_type: d.resourceType,
          status: "pending",
          owner: d.owner,
          owner_resource_id: d.ownerResourceId,
          authorizing_object: d.authorizingObject ?? null,
          priority: d.priority ?? 0,
          lease_quota: d.quota ?? null,
          wait_cause: null,
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
          version: event.streamVersion,
          updated_at: event.recordedAt,
        },
      };
    }
    case "AllocationAttempted":
      return set(event, { attempts: (event.data as LeaseEventData<"AllocationAttempted">).attempt });
    case "LeaseWaiting": {
      const d = event.data as LeaseEventData<"LeaseWaiting">;
      return set(event, { retry_at: new Date(d.retryAt), wait_reason: d.reason, wait_cause: d.cause ?? "capacity" });
    }
    case "LeaseYielded": {
      const d = event.data as LeaseEventData<"LeaseYielded">;
      return { derive: (row) => ({ version: event.streamVersion, updated_at: event.recordedAt, retry_at: new Date(d.retryAt), wait_reason: d.reason, wait_cause: null, failures: row.failures + 1 }) };
    }
    case "LeaseAcquired": {
      const d = event.data as LeaseEventData<"LeaseAcquired">;
      const values = stepForward({ status: "acquired", resource_id: d.resourceId, blueprint_id: d.blueprintId, slot: d.slot, acquired_at: event.recordedAt });
      if (d.blueprintTtl) {
        values.ttl_seconds = d.blueprintTtl.ttlSeconds;
        values.expires_at = new Date(d.blueprintTtl.expiresAt);
        values.ttl_source = "blueprint";
      }
      if (d.capped) values.expires_at = new Date(d.capped.at);
      return set(event, values);
    }
    case "LeaseActivated": {
      const d = event.data as LeaseEventData<"LeaseActivated">;
      return set(event, stepForward({ status: "active", working_directory: d.workingDirectory, activated_at: event.recordedAt }));
    }
    case "LeaseReacquiring":
      return set(event, stepForward({ status: "pending", resource_id: null, blueprint_id: null, slot: null, acquired_at: null, working_directory: null, activated_at: null }));
    case "LeaseQuotaChanged": {
      // No retry time: its work item is due now, so it looks again under the new quota.
      const d = event.data as LeaseEventData<"LeaseQuotaChanged">;
      return set(event, { lease_quota: d.quota, retry_at: null, wait_reason: null, wait_cause: null });
    }
    case "LeaseRenewed": {
      const d = event.data as LeaseEventData<"LeaseRenewed">;
      return set(event, { expires_at: new Date(d.expiresAt), ttl_seconds: d.ttlSeconds, ttl_source: "renewal" });
    }
    case "LeaseReleased": {
      const d = event.data as LeaseEventData<"LeaseReleased">;
      return set(event, { status: "released", end_reason: d.detail ? `${d.reason}: ${d.detail}` : d.reason, ended_at: event.recordedAt, retry_at: null, wait_cause: null });
    }
    case "LeaseBroken": {
      const d = event.data as LeaseEventData<"LeaseBroken">;
      return set(event, { status: "broken", end_reason: d.reason, ended_at: event.recordedAt, retry_at: null, wait_cause: null });
    }
    case "LeaseDestroyed":
      return set(event, { status: "destroyed" });
    default:
      return null;
  }
}

/**
 * `values`, a literal made for this change, with the event's version and time set on it: every
 * change carries them. Set in place rather than spread into a new object: a batched rebuild
 * makes one of these for every lease event, and the spread was a tenth of its time.
 */
function set(event: ProjectedEvent, values: Partial<LeaseRow>): RowChange<LeaseRow> {
  values.version = event.streamVersion;
  values.updated_at = event.recordedAt;
  return { set: values };
}

/** A step forward (acquired, activated, reacquiring): no retry pending, no wait reason, the failure count starts again. Set in place, as `set` does. */
function stepForward(values: Partial<LeaseRow>): Partial<LeaseRow> {
  values.retry_at = null;
  values.wait_reason = null;
  values.wait_cause = null;
  values.failures = 0;
  return values;
}
