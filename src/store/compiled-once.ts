import { CompiledQuery, type Compilable, type Kysely } from "kysely";
import type { DrydockDatabase } from "./schema";

/** Stands in for one argument while a query is compiled; replaced by the argument's value at each use. */
class Slot {
  constructor(readonly name: string) {}
}

type Template = { sql: string; parameters: readonly unknown[] };

/**
 * Queries built and compiled by Kysely once per shape, and afterwards only filled in: each use
 * puts its arguments in their parameter places. For the queries every request and every append
 * sends (the token's lookup, a stream's move, a row's write): building and compiling one costs
 * the service's single process about 0.05–0.1 ms of CPU, about as much as the driver's whole work
 * for the statement.
 *
 * `build` is called once per shape, with stand-ins for the arguments. It may pass them to
 * Kysely as values (a comparison's operand, a column's value) and must not look at them or
 * branch on them: whatever would change the SQL (which columns an insert sets, a list's length)
 * belongs in the shape's name. The SQL is the same on every connection and dialect: both
 * compile with PostgreSQL's compiler. It is compiled through the plugins of the Kysely instance
 * of its first use; Drydock's instances have none.
 */
export class CompiledShapes {
  private readonly templates = new Map<string, Template>();

  compile<A extends Record<string, unknown>, R>(db: Kysely<DrydockDatabase>, shape: string, args: A, build: (db: Kysely<DrydockDatabase>, slots: A) => Compilable<R>): CompiledQuery<R> {
    let template = this.templates.get(shape);
    if (!template) {
      const slots = Object.fromEntries(Object.keys(args).map((k) => [k, new Slot(k)])) as unknown as A;
      const query = build(db, slots).compile();
      const placed = new Set(query.parameters.filter((p): p is Slot => p instanceof Slot).map((p) => p.name));
      const unplaced = Object.keys(args).filter((k) => !placed.has(k));
      // An argument the SQL does not hold was looked at, not passed on: the shape is not fixed.
      if (unplaced.length > 0) throw new Error(`compiled query ${shape}: ${unplaced.join(", ")} not a parameter of the query`);
      template = { sql: query.sql, parameters: query.parameters };
      this.templates.set(shape, template);
    }
    const parameters = template.parameters.map((p) => {
      if (!(p instanceof Slot)) return p;
      const value = args[p.name];
      // An expression would be sent as a value: only values fill a shape.
      if (typeof value === "object" && value !== null && "toOperationNode" in value) throw new Error(`compiled query ${shape}: ${p.name} is an expression, not a value`);
      return value;
    });
    return CompiledQuery.raw(template.sql, parameters) as CompiledQuery<R>;
  }
}

/** A query of one fixed shape (CompiledShapes): returns the compiled query for the arguments, ready to send. */
export function compiledOnce<A extends Record<string, unknown>, R>(build: (db: Kysely<DrydockDatabase>, args: A) => Compilable<R>): (db: Kysely<DrydockDatabase>, args: A) => CompiledQuery<R> {
  const shapes = new CompiledShapes();
  return (db, args) => shapes.compile(db, "", args, build);
}

/** Sends a compiled query; its rows. */
export async function rowsOf<R>(db: Kysely<DrydockDatabase>, query: CompiledQuery<R>): Promise<R[]> {
  return (await db.executeQuery(query)).rows;
}
