import { sql, type Kysely } from "kysely";

/**
 * Capacity reads that stay bounded however long the history grows.
 *
 * `slot_locks.scope_id` is the resource or blueprint a lock belongs to (the second field of its
 * key: `resource:<id>:slot:<n>`, `blueprint:<id>:limit:<n>`, `local-host:<blueprint>`), indexed,
 * so the allocator reads a resource's locks by an index lookup. Before, it matched one
 * `LIKE 'resource:<id>:slot:%'` per live resource, which no index serves and which made a
 * statement whose size grew with the pool.
 *
 * `leases_resource_ended` answers "when did the last lease on this resource end" with one index
 * probe. The allocator asks it only for idle resources; before, it counted and aggregated every
 * lease a resource ever held, and the local host's resource lives forever.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE slot_locks ADD COLUMN scope_id text`.execute(db);
  await sql`UPDATE slot_locks SET scope_id = split_part(lock_key, ':', 2)`.execute(db);
  await sql`ALTER TABLE slot_locks ALTER COLUMN scope_id SET NOT NULL`.execute(db);
  await sql`CREATE INDEX slot_locks_scope ON slot_locks (scope_id)`.execute(db);
  await sql`CREATE INDEX leases_resource_ended ON leases (resource_id, ended_at) WHERE ended_at IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX leases_resource_ended`.execute(db);
  await sql`DROP INDEX slot_locks_scope`.execute(db);
  await sql`ALTER TABLE slot_locks DROP COLUMN scope_id`.execute(db);
}
