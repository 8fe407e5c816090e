import { existsSync } from "node:fs";
import { openDatabase, type Database } from "../store/database";
import { serveConfigFrom } from "./config";

/**
 * The database the history commands (replay, verify) work on directly, not through the API:
 * DATABASE_URL, or the PGlite directory under DRYDOCK_HOME. PGlite allows one process, so the
 * service must be stopped first; the directory's lock says so if it is not.
 */
export async function withLogDatabase<T>(env: NodeJS.ProcessEnv, run: (database: Database) => Promise<T>): Promise<T> {
  const config = serveConfigFrom(env);
  if (!config.databaseUrl && !existsSync(config.dataDir)) {
    throw new Error(`no Drydock database in ${config.dataDir} (set DRYDOCK_HOME to the service's home, or DATABASE_URL)`);
  }
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  try {
    return await run(database);
  } finally {
    await database.close();
  }
}
