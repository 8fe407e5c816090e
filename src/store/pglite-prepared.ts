import { parse, protocol, type PGlite, type Results } from "@electric-sql/pglite";

const { serialize } = protocol;

/** Statements kept prepared at once (default); the least recently used beyond this is closed. */
const MAX_PREPARED = 500;

/** PostgreSQL's refusal of a prepared statement whose table changed shape under it (a migration). */
const CACHED_PLAN_CHANGED = "0A000";

interface Prepared {
  name: string;
  /** The parameter types the server inferred at Parse, so each value is serialized as PGlite's own `query` would. */
  paramTypes: number[];
}

/**
 * Runs a statement on PGlite the way `PGlite.query` does (extended protocol, PGlite's own
 * serializers and parsers, its error objects, a file-system sync after each statement), but
 * keeps the statement prepared under a name, once per text, and sends Bind, Describe, Execute
 * and Sync as one message.
 *
 * Why: `PGlite.query` parses, plans and describes every statement anew and crosses into the
 * WebAssembly backend six times for it; a lease cycle's forty statements spent most of their
 * time there (about 1 ms each, against 0.2 ms this way). The SQL Drydock sends is a small set
 * of texts, so nearly every statement after the first few is already prepared.
 *
 * Prepared statements belong to the session (PGlite has one), not to a transaction: a rollback
 * does not drop them, and a statement prepared inside a transaction that fails stays usable.
 * It runs in PGlite's own thread (pglite-worker.ts), which hands it one statement at a time.
 */
export class PGlitePreparedStatements {
  /** By text, in least-recently-used order (a Map keeps insertion order: a hit is moved to the end). */
  private readonly prepared = new Map<string, Prepared>();
  private next = 0;

  constructor(
    private readonly pglite: PGlite,
    private readonly maxPrepared = MAX_PREPARED,
  ) {}

  query<R>(text: string, params: readonly unknown[]): Promise<Results<R>> {
    return this.pglite._runExclusiveQuery(async () => {
      try {
        return await this.run<R>(text, params);
      } catch (error) {
        // A table the statement reads changed its columns since it was prepared: prepare it
        // again. Outside a transaction the statement is simply run again; inside one the
        // transaction is aborted already, and the caller sees the error as it would have.
        if ((error as { code?: string }).code !== CACHED_PLAN_CHANGED || !this.prepared.has(text)) throw error;
        await this.close(text);
        if (this.pglite.isInTransaction()) throw error;
        return await this.run<R>(text, params);
      }
    });
  }

  private async run<R>(text: string, params: readonly unknown[]): Promise<Results<R>> {
    const statement = await this.prepare(text, params);
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serializer = this.pglite.serializers[statement.paramTypes[i]!];
      return serializer ? serializer(value) : String(value);
    });
    let messages;
    try {
      messages = await this.pglite.execProtocolStream(
        concat([serialize.bind({ statement: statement.name, values }), serialize.describe({ type: "P" }), serialize.execute({}), serialize.sync()]),
        { syncToFs: false },
      );
    } catch (error) {
      throw withQuery(error, text, params);
    }
    // As PGlite.query does after every statement outside its own transaction API (which Drydock does not use).
    await this.pglite.syncToFs();
    return parse.parseResults(messages, this.pglite.parsers)[0] as Results<R>;
  }

  private async prepare(text: string, params: readonly unknown[]): Promise<Prepared> {
    const known = this.prepared.get(text);
    if (known) {
      this.prepared.delete(text);
      this.prepared.set(text, known);
      return known;
    }
    const name = `drydock_${++this.next}`;
    let messages;
    try {
      messages = await this.pglite.execProtocolStream(concat([serialize.parse({ name, text }), serialize.describe({ type: "S", name }), serialize.sync()]), { syncToFs: false });
    } catch (error) {
      throw withQuery(error, text, params);
    }
    const statement = { name, paramTypes: parse.parseDescribeStatementResults(messages) };
    this.prepared.set(text, statement);
    if (this.prepared.size > this.maxPrepared) await this.close(this.prepared.keys().next().value!);
    return statement;
  }

  private async close(text: string): Promise<void> {
    const statement = this.prepared.get(text);
    if (!statement) return;
    this.prepared.delete(text);
    await this.pglite.execProtocolStream(concat([serialize.close({ type: "S", name: statement.name }), serialize.sync()]), { syncToFs: false }).catch(() => undefined);
  }
}

/** The statement on the error, as PGlite.query puts it there (PGliteError). */
function withQuery(error: unknown, query: string, params: readonly unknown[]): unknown {
  if (error && typeof error === "object" && "code" in error) Object.assign(error, { query, params: [...params], queryOptions: undefined });
  return error;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
