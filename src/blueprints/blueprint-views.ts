import type { Selectable } from "kysely";
import type { BlueprintsTable, LeasesTable, ResourcesTable } from "../store/schema";
import type { BlueprintView, LeaseView, ResourceView } from "./blueprint";
import type { BlueprintRegistry } from "./blueprint-registry";

/** Projection rows as the views blueprints see. */
export function blueprintViewOf(row: Selectable<BlueprintsTable>, registry: BlueprintRegistry): BlueprintView {
  const impl = registry.get(row.kind);
  return {
    blueprintId: row.blueprint_id,
    name: row.name,
    kind: row.kind,
    resourceType: row.resource_type,
    config: impl.parseConfig(row.config),
    resourceLimit: row.resource_limit,
    enabled: row.enabled,
    liveResources: row.live_resources,
  };
}

export function resourceViewOf(row: Selectable<ResourcesTable>): ResourceView {
  return {
    resourceId: row.resource_id,
    blueprintId: row.blueprint_id,
    resourceType: row.resource_type,
    status: row.status,
    attributes: row.attributes as Record<string, unknown>,
    leaseSlots: row.lease_slots,
    liveLeases: row.live_leases,
  };
}

export function leaseViewOf(row: Pick<Selectable<LeasesTable>, "lease_id" | "resource_type" | "attributes" | "owner" | "owner_resource_id">): LeaseView {
  return {
    leaseId: row.lease_id,
    resourceType: row.resource_type,
    attributes: row.attributes as Record<string, unknown>,
    owner: row.owner,
    ownerResourceId: row.owner_resource_id,
  };
}
