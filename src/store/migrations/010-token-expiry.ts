import { sql, type Kysely } from "kysely";

/**
 * `tokens.expires_at`: TokenIssued's expiresAt, after which the token is refused. No token issued
 * before this migration has one, so existing rows stay null (never), as a rebuild would leave them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tokens ADD COLUMN expires_at timestamptz`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tokens DROP COLUMN expires_at`.execute(db);
}
