import type { Kysely, Selectable } from "kysely";
import type { LeaseState } from "../machines/fold";
import type { FailingTarget } from "../machines/blueprint-machine";
import { idleSinceOf, resourceLoad, type ResourceLoad } from "../queries/resource-load";
import type { BlueprintsTable, DrydockDatabase, LeasesTable, ResourcesTable } from "../store/schema";
import { poolPolicyOfRow } from "../domain/pool-policy";
import type { BlueprintView, LeaseView, ResourceView } from "./blueprint";
import type { BlueprintRegistry } from "./blueprint-registry";

/** Projection rows as the views blueprints see. */
export function blueprintViewOf(row: Selectable<BlueprintsTable>, registry: BlueprintRegistry): BlueprintView {
  return {
    blueprintId: row.blueprint_id,
    name: row.name,
    kind: row.kind,
    resourceType: row.resource_type,
    config: registry.configOf(row),
    resourceLimit: row.resource_limit,
    enabled: row.enabled,
    liveResources: row.live_resources,
    failingTargets: row.failing_targets as FailingTarget[],
    maxLeaseSeconds: row.max_lease_seconds,
    pool: poolPolicyOfRow(row),
  };
}

/** `liveLeases`: leases acquired or active on it, counted by the caller (src/queries/resource-load.ts). */
export function resourceViewOf(row: Selectable<ResourcesTable>, liveLeases: number): ResourceView {
  return {
    resourceId: row.resource_id,
    blueprintId: row.blueprint_id,
    resourceType: row.resource_type,
    status: row.status,
    attributes: row.attributes as Record<string, unknown>,
    leaseSlots: row.lease_slots,
    liveLeases,
    suspectReason: row.suspect_reason,
    endReason: row.end_reason,
  };
}

export function leaseViewOf(row: Pick<Selectable<LeasesTable>, "lease_id" | "resource_type" | "attributes" | "owner" | "owner_resource_id" | "authorizing_object">): LeaseView {
  return {
    leaseId: row.lease_id,
    resourceType: row.resource_type,
    attributes: row.attributes as Record<string, unknown>,
    owner: row.owner,
    ownerResourceId: row.owner_resource_id,
    authorizingObject: row.authorizing_object,
  };
}

/** A resource row as a view, with its live leases counted now and how long it has been idle. */
export async function loadResourceView(db: Kysely<DrydockDatabase>, row: Selectable<ResourcesTable>): Promise<ResourceView> {
  return resourceViewWithLoad(row, await resourceLoad(db, row.resource_id));
}

/** A resource row as a view, with its load read already (resourceWithBlueprint). */
export function resourceViewWithLoad(row: Selectable<ResourcesTable>, load: ResourceLoad): ResourceView {
  return { ...resourceViewOf(row, load.liveLeases), idleSince: idleSinceOf(row.status, row.activated_at, load)?.toISOString() ?? null };
}

/** The lease as blueprints see it, from its folded state: a worker step has it already, no read needed. */
export function leaseViewOfState(lease: LeaseState): LeaseView {
  const c = lease.context;
  return { leaseId: c.leaseId, resourceType: c.resourceType, attributes: c.attributes, owner: c.owner, ownerResourceId: c.ownerResourceId, authorizingObject: c.authorizingObject };
}
