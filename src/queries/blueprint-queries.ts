import type { Kysely, Selectable } from "kysely";
import { NotFoundError } from "../domain/errors";
import type { FailingTarget } from "../machines/blueprint-machine";
import type { BlueprintsTable, DrydockDatabase } from "../store/schema";
import { poolPolicyOfRow } from "../domain/pool-policy";
import { decodeCursor, pageOf, type Page } from "./pagination";

export interface BlueprintRecord {
  id: string;
  name: string;
  kind: string;
  resourceType: string;
  /** Holds references to secrets (env var names, file paths), never secrets. */
  config: Record<string, unknown>;
  resourceLimit: number | null;
  /** No lease of it expires later than its request time plus this; null: no cap. */
  maxLeaseSeconds: number | null;
  /** The pool policy (src/domain/pool-policy.ts); null: none. */
  minReady: number | null;
  maxLeasesPerResource: number | null;
  maxAgeSeconds: number | null;
  idleDestroySeconds: number | null;
  enabled: boolean;
  liveResources: number;
  /** Targets (hosts) that failed for a configuration error: nothing is built on them until the config changes or `retryAt`. */
  failingTargets: FailingTarget[];
  createdAt: string;
  updatedAt: string;
  version: number;
}

export function blueprintRecordOf(row: Selectable<BlueprintsTable>): BlueprintRecord {
  return {
    id: row.blueprint_id,
    name: row.name,
    kind: row.kind,
    resourceType: row.resource_type,
    config: row.config as Record<string, unknown>,
    resourceLimit: row.resource_limit,
    maxLeaseSeconds: row.max_lease_seconds,
    ...poolPolicyOfRow(row),
    enabled: row.enabled,
    liveResources: row.live_resources,
    failingTargets: row.failing_targets as FailingTarget[],
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    version: row.version,
  };
}

export async function getBlueprint(db: Kysely<DrydockDatabase>, blueprintId: string): Promise<BlueprintRecord> {
  const row = await db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", blueprintId).executeTakeFirst();
  if (!row) throw new NotFoundError("blueprint", blueprintId);
  return blueprintRecordOf(row);
}

export async function listBlueprints(
  db: Kysely<DrydockDatabase>,
  filter: { resourceType?: string; cursor?: string; limit: number; authorizedFor?: string },
): Promise<Page<BlueprintRecord>> {
  let q = db.selectFrom("blueprints").selectAll().orderBy("blueprint_id", "desc").limit(filter.limit + 1);
  if (filter.resourceType) q = q.where("resource_type", "=", filter.resourceType);
  // A client lists only the blueprints it holds an approved authorization for.
  const client = filter.authorizedFor;
  if (client !== undefined) {
    q = q.where("blueprint_id", "in", (eb) => eb.selectFrom("authorizations").select("authorizations.blueprint_id").where("authorizations.client", "=", client).where("authorizations.state", "=", "approved"));
  }
  if (filter.cursor) q = q.where("blueprint_id", "<", decodeCursor(filter.cursor));
  return pageOf(await q.execute(), filter.limit, (r) => r.blueprint_id, blueprintRecordOf);
}
