import { sql, type Kysely } from "kysely";

/**
 * Health checks of active resources (src/allocator/health-loop.ts). Operational state, not a
 * projection of the log: a successful check appends no event, so when a resource is next due
 * lives only here. Any number of workers share the table: a checker claims due rows with
 * FOR UPDATE SKIP LOCKED and a claim timeout, as work items are claimed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE resource_health (
      resource_id    text PRIMARY KEY,
      next_check_at  timestamptz NOT NULL,
      failures       integer NOT NULL DEFAULT 0,
      last_ok_at     timestamptz,
      last_error     text,
      claimed_by     text,
      claimed_until  timestamptz
    )`.execute(db);
  await sql`CREATE INDEX resource_health_due ON resource_health (next_check_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE resource_health`.execute(db);
}
