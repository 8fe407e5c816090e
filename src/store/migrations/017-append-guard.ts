import { sql, type Kysely } from "kysely";

/**
 * The refusal a one-statement append raises when its stream was not at the version it expected
 * (src/store/append-statement.ts). A statement sent without BEGIN/COMMIT is its own transaction:
 * raising aborts all of it, so none of its writes (slot locks, rows, work items) is kept.
 * VOLATILE (the default), so the planner never evaluates it ahead of the check that guards it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION drydock_refuse_append(stream text, expected integer) RETURNS integer
    LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'stream % is not at version %', stream, expected USING ERRCODE = 'DY409';
    END
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION drydock_refuse_append(text, integer)`.execute(db);
}
