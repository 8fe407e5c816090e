import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Kysely } from "kysely";
import { migrate } from "../../src/store/database";
import { PGliteDialect } from "../../src/store/pglite-dialect";
import { PGliteThread } from "../../src/store/pglite-thread";
import type { DrydockDatabase } from "../../src/store/schema";

/**
 * A migrated PGlite data directory, dumped once and loaded by every test file's in-memory
 * database, as PostgreSQL's CREATE DATABASE copies a template. A new PGlite spends about three
 * seconds of CPU initialising its directory; loading a dump takes about one, and the suite opens
 * well over a hundred. The dump lives in the system's temporary directory under a name that
 * hashes PGlite's version and every migration's source, so a changed migration makes a new one;
 * the test processes that race to make it each write their own file and rename it into place.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const migrations = path.join(root, "src/store/migrations");
/** The installed PGlite's version: its package.json is not in the package's exports, so read as a file. */
const pgliteVersion = (JSON.parse(readFileSync(path.join(root, "node_modules/@electric-sql/pglite/package.json"), "utf8")) as { version: string }).version;

function templateFile(): string {
  const hash = createHash("sha256").update(pgliteVersion);
  for (const name of readdirSync(migrations).sort()) hash.update(name).update(readFileSync(path.join(migrations, name)));
  return path.join(tmpdir(), `drydock-pglite-template-${hash.digest("hex").slice(0, 16)}.tar`);
}

let loaded: Promise<Blob> | undefined;

/** The template's dump, made if no test process has made it yet. */
export function pgliteTemplate(): Promise<Blob> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<Blob> {
  const file = templateFile();
  const existing = await readFile(file).catch(() => null);
  if (existing) return new Blob([existing]);
  const thread = await PGliteThread.start({});
  const db = new Kysely<DrydockDatabase>({ dialect: new PGliteDialect(thread) });
  try {
    await migrate(db);
    const bytes = Buffer.from(await thread.dumpDataDir());
    const partial = `${file}.${randomBytes(4).toString("hex")}`;
    await writeFile(partial, bytes);
    await rename(partial, file);
    return new Blob([bytes]);
  } finally {
    await db.destroy();
    await thread.close();
  }
}
