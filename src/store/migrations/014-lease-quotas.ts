import { sql, type Kysely } from "kysely";

/**
 * Per-client lease quotas (src/domain/lease-quota.ts):
 * - `tokens.lease_quota`: TokenIssued's leaseQuota; null: none.
 * - `leases.lease_quota`: the quota the lease carries (LeaseRequested.quota), so that the leases
 *   ahead of one in the queue are judged by their own quotas.
 * - `leases.wait_cause`: LeaseWaiting's cause while the lease waits (`capacity`, `configuration`,
 *   `quota`). A freed slot wakes the first waiters that wait for capacity, not ones over quota,
 *   which a slot cannot help; those are woken when a lease of their owner ends.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tokens ADD COLUMN lease_quota jsonb`.execute(db);
  await sql`ALTER TABLE leases ADD COLUMN lease_quota jsonb`.execute(db);
  await sql`ALTER TABLE leases ADD COLUMN wait_cause text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE leases DROP COLUMN wait_cause`.execute(db);
  await sql`ALTER TABLE leases DROP COLUMN lease_quota`.execute(db);
  await sql`ALTER TABLE tokens DROP COLUMN lease_quota`.execute(db);
}
