import { sql, type Kysely } from "kysely";

/**
 * A pool policy per blueprint (src/domain/pool-policy.ts): a warm pool (`min_ready`) and
 * recycling (`max_leases_per_resource`, `max_age_seconds`, `idle_destroy_seconds`). No event
 * before this migration sets them, so existing blueprints start without, as a rebuild would.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE blueprints
    ADD COLUMN min_ready integer,
    ADD COLUMN max_leases_per_resource integer,
    ADD COLUMN max_age_seconds integer,
    ADD COLUMN idle_destroy_seconds integer`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE blueprints
    DROP COLUMN min_ready,
    DROP COLUMN max_leases_per_resource,
    DROP COLUMN max_age_seconds,
    DROP COLUMN idle_destroy_seconds`.execute(db);
}
