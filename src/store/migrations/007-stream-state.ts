import { sql, type Kysely } from "kysely";

/**
 * `streams.state`: each stream's folded state (`{status, context}`) at `streams.version`, written
 * by the append that moved the version, in the same conditional update. Commands and worker steps
 * read this one row instead of reading and folding the stream, and the store checks every append
 * against the machine from it. Null for streams appended before this migration: the store folds
 * those once from their events, the next time they are appended to or loaded.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE streams ADD COLUMN state jsonb`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE streams DROP COLUMN state`.execute(db);
}
