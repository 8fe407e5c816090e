import { sql, type Kysely } from "kysely";

/**
 * Holds on resources (src/domain/resource-hold.ts): the current hold of each resource
 * (ResourceHeld, cleared by ResourceHoldReleased), and whether its destroy step is waiting for
 * the hold (ResourceDestroyDeferred). No event before this migration sets them, so existing rows
 * start with no hold, as a rebuild would. The partial index serves `GET /v1/resources?held=true`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE resources ADD COLUMN hold_reason text, ADD COLUMN hold_until timestamptz, ADD COLUMN hold_by text, ADD COLUMN hold_lease_id text, ADD COLUMN held_at timestamptz, ADD COLUMN destroy_deferred boolean NOT NULL DEFAULT false`.execute(db);
  await sql`CREATE INDEX resources_held ON resources (resource_id) WHERE hold_reason IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX resources_held`.execute(db);
  await sql`ALTER TABLE resources DROP COLUMN hold_reason, DROP COLUMN hold_until, DROP COLUMN hold_by, DROP COLUMN hold_lease_id, DROP COLUMN held_at, DROP COLUMN destroy_deferred`.execute(db);
}
