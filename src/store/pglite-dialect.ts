import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from "kysely";
import type { PGliteThread } from "./pglite-thread";

/**
 * A Kysely dialect over PGlite in its own thread (pglite-thread.ts). PGlite is one session: each
 * connection Kysely acquires is a number the thread knows its statements by. The thread runs
 * statements in the order they arrive, and while a connection's transaction is open (BEGIN to
 * COMMIT or ROLLBACK) it runs that connection's alone, the others' waiting in order: the
 * isolation PostgreSQL's pool gives by sessions. Acquiring a connection therefore waits for
 * nothing, and a statement is handed over at once. Everything else (SQL, adapter, compiler) is
 * the PostgreSQL dialect's. Statements run prepared, once per text (pglite-prepared.ts).
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly thread: PGliteThread) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.thread);
  }
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

class PGliteDriver implements Driver {
  private connections = 0;
  constructor(private readonly thread: PGliteThread) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new PGliteConnection(this.thread, ++this.connections);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin"));
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("rollback"));
  }
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {}
}

class PGliteConnection implements DatabaseConnection {
  constructor(
    private readonly thread: PGliteThread,
    private readonly id: number,
  ) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.thread.query<R>(this.id, compiled.sql, compiled.parameters);
    const affected = result.affectedRows;
    return {
      rows: result.rows,
      ...(affected !== null ? { numAffectedRows: BigInt(affected) } : {}),
    };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("PGlite dialect does not stream queries");
  }
}
