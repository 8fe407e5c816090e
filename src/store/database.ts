import { mkdirSync } from "node:fs";
import { Kysely, Migrator, PostgresDialect, sql, type KyselyConfig } from "kysely";
import pg from "pg";
import { sqlAnnouncer } from "./change-notifier";
import { migrationProvider } from "./migrations/index";
import { PreparingClient } from "./pg-prepared";
import { AUTOVACUUM_INTERVAL_MS, PGliteAutovacuum } from "./pglite-autovacuum";
import { PGliteDialect } from "./pglite-dialect";
import { PGliteThread } from "./pglite-thread";
import { lockDataDir } from "./pglite-lock";
import type { DrydockDatabase } from "./schema";

/**
 * The database behind Drydock: PGlite (embedded, the default) or PostgreSQL (DATABASE_URL).
 * They differ only in the Kysely dialect and in how notices travel (LISTEN, NOTIFY); SQL is the same.
 */
export interface Database {
  readonly db: Kysely<DrydockDatabase>;
  readonly kind: "pglite" | "postgres";
  /** Calls `onNotify` for each notice on `channel` (notify(), or a NOTIFY); delivered after the sending transaction commits. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * Sends a notice on `channel` to every listener, for something already committed. PostgreSQL:
   * a NOTIFY, which reaches other processes. PGlite: its data directory is locked to this process
   * (pglite-lock.ts), or it lives in this process's memory, so whoever listens is here: the notice
   * reaches them in memory, without a statement.
   */
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://… selects PostgreSQL; otherwise PGlite. */
  url?: string | undefined;
  /** PGlite data directory; omitted means in memory. */
  dataDir?: string | undefined;
  /** PostgreSQL pool size. */
  poolSize?: number;
  /** Called with every statement sent, BEGIN and COMMIT included (statement budgets, benchmarks). */
  onQuery?: (sql: string, ms: number) => void;
  /**
   * PostgreSQL: run parameterised statements as named prepared statements (pg-prepared.ts).
   * Default true; false behind a pooler that cannot keep them (PgBouncer in transaction mode).
   */
  preparedStatements?: boolean;
  /**
   * PGlite in memory: start from this dump of a data directory (`PGlite.dumpDataDir`) instead of
   * an empty one. The test suite's migrated template (test/support/pglite-template.ts): loading
   * it takes about a third of the time of initialising a new directory.
   */
  pgliteTemplate?: Blob;
  /**
   * PGlite: how often its autovacuum looks at the tables (ms; pglite-autovacuum.ts), PGlite having
   * none of its own. Default AUTOVACUUM_INTERVAL_MS; null: never.
   */
  pgliteAutovacuumMs?: number | null;
}

function logOption(onQuery: ((sql: string, ms: number) => void) | undefined): KyselyConfig["log"] {
  if (!onQuery) return undefined;
  return (event) => {
    if (event.level === "query") onQuery(event.query.sql, event.queryDurationMillis);
  };
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const database = options.url ? openPostgres(options.url, options.poolSize ?? 10, options.onQuery, options.preparedStatements ?? true) : await openPGlite(options.dataDir, options.onQuery, options.pgliteTemplate, options.pgliteAutovacuumMs);
  await migrate(database.db);
  return database;
}

export async function migrate(db: Kysely<DrydockDatabase>): Promise<void> {
  if (await migrated(db)) return;
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`migration ${failed} failed: ${(error as Error).message ?? error}`);
  }
}

/**
 * Whether every migration has run, and no other: what nearly every open finds (each `drydock`
 * command and each start but the first after an upgrade). Two small statements, where the
 * Migrator first lists every table's columns from `pg_catalog` to learn whether its own exist (on
 * a new PGlite, whose catalog caches are cold, about 0.4 s, on a database the test suite opens for
 * nearly every file). Anything else is the Migrator's, under its lock: a missing or a changed
 * migration, another process migrating now.
 */
async function migrated(db: Kysely<DrydockDatabase>): Promise<boolean> {
  const present = await sql<{ table: string | null }>`select to_regclass('kysely_migration')::text as table`.execute(db);
  if (present.rows[0]?.table == null) return false;
  const ran = (await sql<{ name: string }>`select name from kysely_migration`.execute(db)).rows.map((row) => row.name).sort();
  const known = Object.keys(await migrationProvider.getMigrations()).sort();
  return ran.length === known.length && ran.every((name, i) => name === known[i]);
}

async function openPGlite(dataDir: string | undefined, onQuery?: (sql: string, ms: number) => void, template?: Blob, autovacuumMs: number | null = AUTOVACUUM_INTERVAL_MS): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const unlock = dataDir ? lockDataDir(dataDir) : () => {};
  const thread = await PGliteThread.start(dataDir ? { dataDir } : template ? { template: new Uint8Array(await template.arrayBuffer()) } : {}).catch((error: unknown) => {
    unlock();
    throw error;
  });
  const db = new Kysely<DrydockDatabase>({ dialect: new PGliteDialect(thread), log: logOption(onQuery) });
  // Its first pass comes an interval after opening: the migrations have run by then.
  const autovacuum = autovacuumMs === null ? null : new PGliteAutovacuum(db, { intervalMs: autovacuumMs });
  autovacuum?.start();
  return {
    db,
    kind: "pglite",
    async listen(channel, onNotify) {
      const unsubscribe = await thread.listen(channel, onNotify);
      return async () => unsubscribe();
    },
    // The listeners are all in this process (the data directory is locked to it): handed over in memory.
    async notify(channel, payload) {
      thread.deliver(channel, payload);
    },
    async close() {
      await autovacuum?.stop();
      await db.destroy();
      await thread.close();
      unlock();
    },
  };
}

function openPostgres(url: string, poolSize: number, onQuery: ((sql: string, ms: number) => void) | undefined, prepared: boolean): Database {
  // int8 (global positions) as numbers: positions stay far below 2^53.
  pg.types.setTypeParser(20, (v) => Number(v));
  const pool = new pg.Pool({ connectionString: url, max: poolSize, ...(prepared ? { Client: PreparingClient } : {}) });
  pool.on("error", () => {
    // An idle client lost its connection; the pool replaces it on next use.
  });
  const db = new Kysely<DrydockDatabase>({ dialect: new PostgresDialect({ pool }), log: logOption(onQuery) });
  const listeners = new Set<pg.Client>();
  return {
    db,
    kind: "postgres",
    // A NOTIFY, which reaches the other processes' LISTENs.
    notify: sqlAnnouncer(db).notify,
    async listen(channel, onNotify) {
      // LISTEN needs its own session; a pooled one would be handed to other queries.
      const client = new pg.Client({ connectionString: url });
      client.on("error", () => {});
      await client.connect();
      client.on("notification", (msg) => {
        if (msg.channel !== channel) return;
        try {
          onNotify(msg.payload ?? "");
        } catch {
          // A listener's failure is its own: it must not take the session down with it.
        }
      });
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      listeners.add(client);
      return async () => {
        listeners.delete(client);
        await client.end().catch(() => {});
      };
    },
    async close() {
      await Promise.all([...listeners].map((c) => c.end().catch(() => {})));
      listeners.clear();
      await db.destroy();
    },
  };
}
