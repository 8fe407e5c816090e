import { readFileSync } from "node:fs";
import path from "node:path";
import { ADMIN_TOKEN_FILE } from "../auth/admin-token-file";
import { DEFAULT_RATE_LIMITS, type RateLimit, type RateLimits } from "../auth/rate-limiter";
import { DEFAULT_LEASE_TTL_SECONDS, MAX_TTL_SECONDS } from "../domain/lease-ttl";
import { DEFAULT_MAX_FILE_BYTES } from "../api/request-limits";

/** The service's configuration, from the environment (see README, "Configuration"). */
export interface ServeConfig {
  port: number;
  host: string;
  /** DRYDOCK_HOME: the embedded database, local lease directories and admin.token live here. */
  home: string;
  databaseUrl: string | undefined;
  dataDir: string;
  localHostRoot: string;
  localHostSlots: number | undefined;
  rateLimits: RateLimits;
  /** DRYDOCK_DEFAULT_LEASE_TTL: the service's default lease TTL (src/domain/lease-ttl.ts); 0 (null here): none. */
  defaultLeaseTtlSeconds: number | null;
  /** DRYDOCK_PG_PREPARED=0: no named prepared statements on PostgreSQL (src/store/pg-prepared.ts), for a pooler in transaction mode. */
  preparedStatements: boolean;
  /** DRYDOCK_MAX_FILE_BYTES: the largest file upload (default 1 GiB). */
  maxFileBytes: number;
  /** DRYDOCK_KEPT_VIEWS=0: every waiting lease request reads its own capacity view (no optimistic acquire: src/allocator/capacity-view-cache.ts). */
  keepCapacityViews: boolean;
}

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  return n;
}

export function serveConfigFrom(env: NodeJS.ProcessEnv, cwd = process.cwd()): ServeConfig {
  const home = path.resolve(cwd, env.DRYDOCK_HOME ?? ".drydock");
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) throw new Error("DATABASE_URL must be a postgres:// URL");
  return {
    port: intFrom(env, "PORT", 8080, 0, 65535)!,
    host: env.HOST || "127.0.0.1",
    home,
    databaseUrl,
    dataDir: path.join(home, "data"),
    localHostRoot: path.resolve(cwd, env.DRYDOCK_LOCAL_ROOT ?? path.join(home, "local-host")),
    localHostSlots: intFrom(env, "DRYDOCK_LOCAL_SLOTS", undefined, 1, 1024),
    rateLimits: {
      leases: rateLimitFrom(env, "DRYDOCK_LEASE_RATE", "DRYDOCK_LEASE_BURST", DEFAULT_RATE_LIMITS.leases),
      commands: rateLimitFrom(env, "DRYDOCK_COMMAND_RATE", "DRYDOCK_COMMAND_BURST", DEFAULT_RATE_LIMITS.commands),
    },
    defaultLeaseTtlSeconds: intFrom(env, "DRYDOCK_DEFAULT_LEASE_TTL", DEFAULT_LEASE_TTL_SECONDS, 0, MAX_TTL_SECONDS) || null,
    preparedStatements: intFrom(env, "DRYDOCK_PG_PREPARED", 1, 0, 1) === 1,
    keepCapacityViews: intFrom(env, "DRYDOCK_KEPT_VIEWS", 1, 0, 1) === 1,
    maxFileBytes: intFrom(env, "DRYDOCK_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES, 0, Number.MAX_SAFE_INTEGER)!,
  };
}

/** Requests per second per token, and how many at once; a rate of 0 turns the limit off. */
function rateLimitFrom(env: NodeJS.ProcessEnv, rateName: string, burstName: string, fallback: RateLimit | null): RateLimit | null {
  const perSecond = intFrom(env, rateName, fallback?.perSecond ?? 0, 0, 1_000_000)!;
  if (perSecond === 0) return null;
  return { perSecond, burst: intFrom(env, burstName, Math.max(perSecond, fallback?.burst ?? perSecond), 1, 10_000_000)! };
}

/**
 * The token the CLI sends: DRYDOCK_TOKEN, else the admin token the service wrote to
 * `$DRYDOCK_HOME/admin.token` on its first start (so the CLI works out of the box beside it).
 */
export function cliToken(env: NodeJS.ProcessEnv, cwd = process.cwd()): string | null {
  const fromEnv = env.DRYDOCK_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  try {
    return readFileSync(path.join(path.resolve(cwd, env.DRYDOCK_HOME ?? ".drydock"), ADMIN_TOKEN_FILE), "utf8").trim() || null;
  } catch {
    return null;
  }
}

/** Where the CLI finds the service. */
export function serviceUrl(env: NodeJS.ProcessEnv): string {
  return (env.DRYDOCK_URL || `http://127.0.0.1:${env.PORT || 8080}`).replace(/\/+$/, "");
}
