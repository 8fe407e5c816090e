import { sql, type Kysely } from "kysely";

/**
 * A work item's failures in a row (src/allocator/worker.ts): how many times its step has thrown
 * since the stream last moved, the last error and when. The retry delay grows with the count, and
 * operators see a step that keeps failing (a resource whose teardown EC2 refuses) where they look.
 * Operational state, as the claim is: an append that rewrites the item starts it again at 0.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE work_items
      ADD COLUMN failures integer NOT NULL DEFAULT 0,
      ADD COLUMN last_error text,
      ADD COLUMN last_failed_at timestamptz`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE work_items DROP COLUMN failures, DROP COLUMN last_error, DROP COLUMN last_failed_at`.execute(db);
}
