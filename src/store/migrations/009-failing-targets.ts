import { sql, type Kysely } from "kysely";

/**
 * Failures users can act on:
 *  - `blueprints.failing_targets`: the targets (hosts) that failed for a configuration error,
 *    from BlueprintTargetFailed, until the config changes (the blueprint machine's context).
 *  - `resources.suspect_reason`: why a lease's failure made an active resource suspect
 *    (ResourceSuspected), until a health check clears or breaks it.
 * No event before this migration sets either, so existing rows start empty, as a rebuild would.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE blueprints ADD COLUMN failing_targets jsonb NOT NULL DEFAULT '[]'::jsonb`.execute(db);
  await sql`ALTER TABLE resources ADD COLUMN suspect_reason text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE resources DROP COLUMN suspect_reason`.execute(db);
  await sql`ALTER TABLE blueprints DROP COLUMN failing_targets`.execute(db);
}
