import { sql, type Kysely } from "kysely";

/**
 * A cap on a lease's life per blueprint (`maxLeaseSeconds`, src/domain/lease-ttl.ts): no lease of
 * the blueprint expires later than its request time plus this. No event before this migration
 * sets it, so existing blueprints start without a cap, as a rebuild would.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE blueprints ADD COLUMN max_lease_seconds integer`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE blueprints DROP COLUMN max_lease_seconds`.execute(db);
}
