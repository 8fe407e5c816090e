import { sql, type Kysely } from "kysely";

/**
 * `leases.authorizing_object`: who the lease acts for (LeaseRequested's authorizingObject).
 * Null for an admin's lease or one asked for below the API; a client name, or
 * `blueprint:<id>` for a lease a resource holds. The local host sandboxes every lease that
 * has one, and the API scopes a client to leases that carry its name here. Existing rows are
 * filled from their LeaseRequested event, as a rebuild would fill them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE leases ADD COLUMN authorizing_object text`.execute(db);
  await sql`
    UPDATE leases SET authorizing_object = e.data->>'authorizingObject'
    FROM events e
    WHERE e.stream_id = 'lease-' || leases.lease_id AND e.event_type = 'LeaseRequested'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE leases DROP COLUMN authorizing_object`.execute(db);
}
