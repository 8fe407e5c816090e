import { sql, type Kysely } from "kysely";
import type { DrydockDatabase } from "../store/schema";
import { blueprintRowOfJson, type BlueprintRow, type ResourceRow } from "./json-rows";
import { resourceLoadColumns, resourceLoadOf, type ResourceLoad, type ResourceLoadRow } from "./resource-load";

export interface ResourceWithBlueprint {
  resource: ResourceRow;
  /** Its blueprint's row; null only if that row is missing (never, while the projections hold). */
  blueprint: BlueprintRow | null;
  /** Its live leases and last lease's end now, as resourceLoad reads them (for its ResourceView). */
  load: ResourceLoad;
}

/**
 * A resource's row, its blueprint's row and its load in one statement, where a worker step that
 * hands a resource to its blueprint read them in three (the resource, its blueprint, resourceLoad).
 * The resource's columns come back as the driver gives them; the blueprint's through JSON,
 * made the driver's row again (json-rows.ts). Undefined: no such resource.
 */
export async function resourceWithBlueprint(db: Kysely<DrydockDatabase>, resourceId: string): Promise<ResourceWithBlueprint | undefined> {
  const { rows } = await sql<ResourceRow & ResourceLoadRow & { blueprint_json: Record<string, unknown> | null }>`
    SELECT r.*, (SELECT to_json(b) FROM blueprints b WHERE b.blueprint_id = r.blueprint_id) AS blueprint_json, ${resourceLoadColumns(sql.ref("r.resource_id"))}
      FROM resources r WHERE r.resource_id = ${resourceId}`.execute(db);
  const row = rows[0];
  if (!row) return undefined;
  const { blueprint_json, live, last_ended, ...resource } = row;
  return { resource, blueprint: blueprint_json ? blueprintRowOfJson(blueprint_json) : null, load: resourceLoadOf({ live, last_ended }) };
}
