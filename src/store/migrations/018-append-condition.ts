import { sql, type Kysely } from "kysely";

/**
 * The refusal a one-statement append raises when a condition it carries does not hold
 * (src/store/append-condition.ts: the appending request's token no longer works). As with
 * drydock_refuse_append (017), raising aborts the whole statement: none of its writes is kept.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION drydock_refuse_condition(what text) RETURNS integer
    LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the append''s condition on % does not hold', what USING ERRCODE = 'DY412';
    END
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION drydock_refuse_condition(text)`.execute(db);
}
