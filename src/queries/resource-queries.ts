import type { Kysely, Selectable } from "kysely";
import { NotFoundError } from "../domain/errors";
import type { DrydockDatabase, ResourcesTable } from "../store/schema";
import { decodeCursor, pageOf, type Page } from "./pagination";
import { idleSinceOf, resourceLoad, resourceLoads, type ResourceLoad } from "./resource-load";
import { isoOrNull } from "./iso-time";
import { failingStepOf, resourcesWithWorkItem, type FailingStep } from "./failing-steps";

export interface ResourceRecord {
  id: string;
  blueprintId: string;
  resourceType: string;
  status: string;
  attributes: Record<string, unknown>;
  leaseSlots: number;
  liveLeases: number;
  endReason: string | null;
  /** Why a lease's failure made it suspect: it takes no new lease until a health check clears or breaks it. */
  suspectReason: string | null;
  /** Its hold (src/domain/resource-hold.ts): no new lease, no teardown, until released or `until`. */
  hold: HoldRecord | null;
  /** Its next step (a teardown, mostly) has failed since it last changed: how often, the last error, the next try. */
  failingStep: FailingStep | null;
  allocatedAt: string;
  activatedAt: string | null;
  endedAt: string | null;
  idleSince: string | null;
  version: number;
}


export interface HoldRecord {
  reason: string;
  /** When it ends by itself; null: when an admin releases it. */
  until: string | null;
  by: string;
  /** The lease whose failure asked for it (holdOnFailure), if any. */
  leaseId: string | null;
  since: string;
}

function holdRecordOf(row: Selectable<ResourcesTable>): HoldRecord | null {
  if (row.hold_reason === null) return null;
  return { reason: row.hold_reason, until: isoOrNull(row.hold_until), by: row.hold_by ?? "", leaseId: row.hold_lease_id, since: isoOrNull(row.held_at)! };
}

export function resourceRecordOf(row: Selectable<ResourcesTable>, load: ResourceLoad | undefined, failingStep: FailingStep | null = null): ResourceRecord {
  return {
    id: row.resource_id,
    blueprintId: row.blueprint_id,
    resourceType: row.resource_type,
    status: row.status,
    attributes: row.attributes as Record<string, unknown>,
    leaseSlots: row.lease_slots,
    liveLeases: load?.liveLeases ?? 0,
    endReason: row.end_reason,
    suspectReason: row.suspect_reason,
    hold: holdRecordOf(row),
    failingStep,
    allocatedAt: isoOrNull(row.allocated_at)!,
    activatedAt: isoOrNull(row.activated_at),
    endedAt: isoOrNull(row.ended_at),
    idleSince: isoOrNull(idleSinceOf(row.status, row.activated_at, load)),
    version: row.version,
  };
}

export async function getResource(db: Kysely<DrydockDatabase>, resourceId: string): Promise<ResourceRecord> {
  const row = await resourcesWithWorkItem(db).where("resources.resource_id", "=", resourceId).executeTakeFirst();
  if (!row) throw new NotFoundError("resource", resourceId);
  return resourceRecordOf(row, await resourceLoad(db, resourceId), failingStepOf(row));
}

export interface ResourceFilter {
  status?: string[];
  resourceType?: string;
  blueprintId?: string;
  /** true: only resources on hold; false: only those not on hold. */
  held?: boolean;
  /** Only resources this client has (or had) a lease of its own on (owner and authorizing object): what it may see. */
  leaseOwner?: string;
  cursor?: string;
  limit: number;
}

export async function listResources(db: Kysely<DrydockDatabase>, filter: ResourceFilter): Promise<Page<ResourceRecord>> {
  let q = resourcesWithWorkItem(db).orderBy("resources.resource_id", "desc").limit(filter.limit + 1);
  if (filter.status && filter.status.length > 0) q = q.where("resources.status", "in", filter.status);
  if (filter.resourceType) q = q.where("resources.resource_type", "=", filter.resourceType);
  if (filter.blueprintId) q = q.where("resources.blueprint_id", "=", filter.blueprintId);
  if (filter.held !== undefined) q = q.where("resources.hold_reason", filter.held ? "is not" : "is", null);
  const leaseOwner = filter.leaseOwner;
  if (leaseOwner !== undefined) {
    q = q.where("resources.resource_id", "in", (eb) => eb.selectFrom("leases").select("leases.resource_id").where("leases.owner", "=", leaseOwner).where("leases.authorizing_object", "=", leaseOwner).where("leases.resource_id", "is not", null).$narrowType<{ resource_id: string }>());
  }
  if (filter.cursor) q = q.where("resources.resource_id", "<", decodeCursor(filter.cursor));
  const rows = await q.execute();
  const loads = await resourceLoads(db, rows.map((r) => r.resource_id));
  return pageOf(rows, filter.limit, (r) => r.resource_id, (r) => resourceRecordOf(r, loads.get(r.resource_id), failingStepOf(r)));
}
