import { sql, type Kysely } from "kysely";

/**
 * Default lease TTLs (src/domain/lease-ttl.ts):
 *  - `leases.ttl_seconds`, `leases.ttl_source`: the lease's current TTL and what set it, shown in
 *    the API's lease records. Existing rows are filled as a rebuild would fill them: every event
 *    before this migration predates default TTLs, so the TTL is the last renewal's ("renewal"),
 *    else the request's ("request").
 *  - `tokens.default_lease_ttl_seconds`: TokenIssued's defaultLeaseTtlSeconds; null for every
 *    token issued before it existed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE leases ADD COLUMN ttl_seconds integer`.execute(db);
  await sql`ALTER TABLE leases ADD COLUMN ttl_source text NOT NULL DEFAULT 'request'`.execute(db);
  await sql`
    UPDATE leases SET ttl_seconds = (e.data->>'ttlSeconds')::integer
    FROM events e
    WHERE e.stream_id = 'lease-' || leases.lease_id AND e.event_type = 'LeaseRequested'`.execute(db);
  await sql`
    UPDATE leases SET ttl_seconds = (r.data->>'ttlSeconds')::integer, ttl_source = 'renewal'
    FROM (
      SELECT DISTINCT ON (stream_id) stream_id, data FROM events
      WHERE event_type = 'LeaseRenewed'
      ORDER BY stream_id, stream_version DESC
    ) r
    WHERE r.stream_id = 'lease-' || leases.lease_id`.execute(db);
  await sql`ALTER TABLE tokens ADD COLUMN default_lease_ttl_seconds integer`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tokens DROP COLUMN default_lease_ttl_seconds`.execute(db);
  await sql`ALTER TABLE leases DROP COLUMN ttl_source`.execute(db);
  await sql`ALTER TABLE leases DROP COLUMN ttl_seconds`.execute(db);
}
