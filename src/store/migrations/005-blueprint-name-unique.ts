import { sql, type Kysely } from "kysely";

/**
 * Blueprint names are unique. The create and rename commands check the `blueprints` projection
 * first, but two concurrent requests both pass that check; this constraint lets only one of them
 * commit (the command maps the violation to the same 409 the check gives).
 *
 * DEFERRABLE INITIALLY DEFERRED, so it is checked at commit rather than at each row. The log's
 * position order is not quite the order the rows were written in: a rename of A away from "x"
 * and a create of B as "x" can commit in that order while B's event drew the earlier position
 * (B's insert waited on A's uncommitted update). A rebuild replays in position order inside one
 * transaction; an immediate check would refuse B there, a deferred one sees only the end state,
 * which is the live table's and unique. Live appends are one transaction each, so for them a
 * deferred check refuses exactly what an immediate one would, and rolls the whole append back.
 *
 * A database that already holds two blueprints of one name (the race this closes) cannot take
 * the constraint: the migration stops and names them, and an operator renames all but one
 * (PATCH /v1/blueprints/{id}) with the previous version before upgrading.
 */
export const BLUEPRINT_NAME_CONSTRAINT = "blueprints_name_unique";

export async function up(db: Kysely<any>): Promise<void> {
  const duplicates = await sql<{ name: string; ids: string[] }>`
    SELECT name, array_agg(blueprint_id ORDER BY blueprint_id) AS ids
      FROM blueprints GROUP BY name HAVING count(*) > 1 ORDER BY name`.execute(db);
  if (duplicates.rows.length > 0) {
    const list = duplicates.rows.map((d) => `${JSON.stringify(d.name)} (${d.ids.join(", ")})`).join("; ");
    throw new Error(`migration 005: blueprint names must be unique, and these are not: ${list}. Rename all but one of each before upgrading.`);
  }
  await sql`ALTER TABLE blueprints ADD CONSTRAINT ${sql.raw(BLUEPRINT_NAME_CONSTRAINT)} UNIQUE (name) DEFERRABLE INITIALLY DEFERRED`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE blueprints DROP CONSTRAINT ${sql.raw(BLUEPRINT_NAME_CONSTRAINT)}`.execute(db);
}
