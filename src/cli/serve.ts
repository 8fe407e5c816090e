import { serve as serveHttp } from "@hono/node-server";
import { createApp } from "../api/app";
import { ensureAdminToken, firstTokenNotice } from "../auth/admin-token-bootstrap";
import { createDrydock } from "../service/drydock";
import { createLogger } from "../service/logger";
import { journalLessRoot } from "../sandbox/journal-less-root";
import { serveConfigFrom } from "./config";

/** `drydock serve`: the API and an allocator worker in one process, until SIGINT/SIGTERM. */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = serveConfigFrom(env);
  const logger = createLogger({ level: env.LOG_LEVEL ?? "info" });
  const drydock = await createDrydock({
    logger,
    databaseUrl: config.databaseUrl,
    databasePreparedStatements: config.preparedStatements,
    keepCapacityViews: config.keepCapacityViews,
    dataDir: config.dataDir,
    localHost: { root: config.localHostRoot, ...(config.localHostSlots ? { slots: config.localHostSlots } : {}) },
    defaultLeaseTtlSeconds: config.defaultLeaseTtlSeconds,
    // The home holds the admin token and the database: no lease sandbox may ever show it.
    sandbox: { hidden: [config.home], ...(env.DRYDOCK_SANDBOX_USER ? { userName: env.DRYDOCK_SANDBOX_USER } : {}) },
  });
  // A new install (or one whose admin tokens were all revoked) gets an admin token, kept in
  // $DRYDOCK_HOME/admin.token (0600) for the CLI. Printed once, and only to a terminal: a log
  // file or journal would keep it. Never printed again after.
  const bootstrapped = await ensureAdminToken(drydock.commands, config.home);
  // On a terminal the token itself is shown, once, outside the log; elsewhere the log says where it is.
  if (bootstrapped && process.stdout.isTTY === true) for (const line of firstTokenNotice(bootstrapped, true)) console.log(line);
  else if (bootstrapped) logger.warn({ file: bootstrapped.file, owner: bootstrapped.owner }, firstTokenNotice(bootstrapped, false).join(" "));
  const unjournaled = await journalLessRoot(config.localHostRoot);
  if (unjournaled) {
    logger.warn(
      { root: config.localHostRoot, mountPoint: unjournaled.mountPoint, device: unjournaled.blockName },
      "the local host's lease directories are on ext4 without a journal, where making each costs more the more leases ended in the last seconds: a busy host wants DRYDOCK_LOCAL_ROOT on a journaled filesystem (README, Configuration)",
    );
  }
  const app = createApp(drydock, { rateLimits: config.rateLimits, maxFileBytes: config.maxFileBytes });
  // Node ends a request whose body has not all arrived within its requestTimeout (5 minutes by
  // default): a file upload of up to DRYDOCK_MAX_FILE_BYTES on a slow link takes longer. An hour,
  // as for a command; headers still have Node's minute.
  const serverOptions = { requestTimeout: UPLOAD_TIMEOUT_MS };
  const server = serveHttp({ fetch: app.fetch, port: config.port, hostname: config.host, serverOptions }, (info) => {
    const where = config.databaseUrl ? `PostgreSQL at ${redact(config.databaseUrl)}` : `PGlite in ${config.dataDir} (not fsynced: use PostgreSQL for durability)`;
    logger.info({ url: `http://${config.host}:${info.port}`, database: where, docs: `http://${config.host}:${info.port}/docs` }, "drydock listening");
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    logger.info("drydock stopping");
    server.close();
    await drydock.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

/** The longest a request may take to arrive whole: a file upload's body included. */
const UPLOAD_TIMEOUT_MS = 3_600_000;

/** A database URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}
