import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * A PostgreSQL database of the bench's own, created on the server `adminUrl` names and dropped
 * after; with no URL, nothing (the bench runs on PGlite).
 */
export async function throwawayDatabase(adminUrl: string | undefined): Promise<{ url: string | undefined; drop: () => Promise<void> }> {
  if (!adminUrl) return { url: undefined, drop: async () => {} };
  const name = `drydock_bench_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
