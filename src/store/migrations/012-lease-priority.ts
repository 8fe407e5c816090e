import { sql, type Kysely } from "kysely";

/**
 * The lease queue's order: waiting leases are served by `priority` (higher first; 0 unless an
 * admin raised it or a client lowered it), then by request time, then by id. The allocator reads
 * the pending leases ahead of one lease in that order (the fair queue: decide-in-queue.ts), and
 * wake-ups move the first ones in that order; the partial index keeps both reads on pending rows.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE leases ADD COLUMN priority integer NOT NULL DEFAULT 0`.execute(db);
  await sql`CREATE INDEX leases_queue ON leases (resource_type, priority DESC, requested_at, lease_id) WHERE status = 'pending'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX leases_queue`.execute(db);
  await sql`ALTER TABLE leases DROP COLUMN priority`.execute(db);
}
