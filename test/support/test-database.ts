import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database } from "../../src/store/database";
import { removeLeaseCgroups } from "./lease-cgroups";
import { pgliteTemplate } from "./pglite-template";

/**
 * A fresh, migrated database for one test file: PGlite in memory by default, or a throwaway
 * PostgreSQL database when DATABASE_URL is set (the same suite runs on both in CI).
 */
export interface TestDatabase extends Database {
  /** The URL of the throwaway PostgreSQL database, for tests that open more connections. */
  readonly url: string | undefined;
}

export const testDialect: "pglite" | "postgres" = process.env.DATABASE_URL ? "postgres" : "pglite";

export async function createTestDatabase(options: { poolSize?: number; onQuery?: (sql: string) => void } = {}): Promise<TestDatabase> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    // No autovacuum pass among a test's statements: some tests count them (statement budgets).
    // PGlite's autovacuum has tests of its own (pglite-autovacuum.test.ts).
    const database = await openDatabase({ onQuery: options.onQuery, pgliteTemplate: await pgliteTemplate(), pgliteAutovacuumMs: null });
    const close = database.close.bind(database);
    return Object.assign(database, {
      url: undefined,
      async close() {
        await removeLeaseCgroups(database.db);
        await close();
      },
    });
  }
  const name = `drydock_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const database = await openDatabase({ url, poolSize: options.poolSize ?? 10, onQuery: options.onQuery });
  const close = database.close.bind(database);
  return Object.assign(database, {
    url,
    async close() {
      await removeLeaseCgroups(database.db);
      await close();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  });
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}
