import pg from "pg";

/** Texts given a name, at most, per process; later texts run unnamed, as before. */
const MAX_NAMED = 1000;

/** PostgreSQL's refusal of a prepared statement whose table changed shape under it (a migration). */
const CACHED_PLAN_CHANGED = "0A000";

/** One name per text, shared by every connection of the process: a text is prepared once on each. */
const names = new Map<string, string>();

function nameOf(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) names.set(text, (name = `drydock_${names.size + 1}`));
  return name;
}

/**
 * A pg client that runs each parameterised statement as a named prepared statement: the server
 * parses and plans a text once per connection, not at every execution. A lease cycle sends some
 * forty statements drawn from a small set of texts; the planning was a good part of the
 * database's time per statement. Results and errors are the driver's as before.
 *
 * Only statements with parameters are named: one without goes by the simple protocol, as before,
 * which is what lets a text hold several statements (migrations).
 *
 * A migration that changes a table's columns while this process runs makes PostgreSQL refuse a
 * statement prepared before it ("cached plan must not change result type"): the statement fails
 * once on each connection that had it, and the connection prepares all its texts again under new
 * names. Behind a pooler in transaction mode (PgBouncer before 1.21), named statements do not
 * work: open the database with `preparedStatements: false` there.
 */
export class PreparingClient extends pg.Client {
  /** Moves on when the server refused a prepared plan: every text is prepared again, under a new name. */
  private generation = 0;

  // pg's overloads cannot be overridden one by one: take them all, handle the promise form.
  override query(...args: unknown[]): never {
    const [text, values, callback] = args;
    const name = typeof text === "string" && Array.isArray(values) && values.length > 0 && callback === undefined ? nameOf(text) : undefined;
    const run = super.query as (...a: unknown[]) => never;
    if (name === undefined) return run.apply(this, args);
    // A Query of the text, named afterwards, rather than a config object: pg copies a config object
    // property by property (descriptors and all) into every query it makes, about 1 % of the
    // service thread's time in a lease cycle. The Query's callback settles the promise, as pg's
    // own promise form does.
    const query = new pg.Query(text as string, values as unknown[]) as pg.Query & { name?: string };
    query.name = `${name}.${this.generation}`;
    const promise = new Promise<unknown>((resolve, reject) => {
      (query as unknown as { callback: (error: Error | undefined, result: unknown) => void }).callback = (error, result) => (error ? reject(error) : resolve(result));
    });
    run.call(this, query);
    return promise.catch((error: unknown) => {
      if ((error as { code?: string }).code === CACHED_PLAN_CHANGED) this.generation++;
      // As pg's promise form does: a stack that leads back to the caller, not to the socket's read.
      if (error instanceof Error) Error.captureStackTrace(error);
      throw error;
    }) as never;
  }
}
