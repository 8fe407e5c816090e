import path from "node:path";

/** The service's configuration, from the environment (see README, "Configuration"). */
export interface ServeConfig {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  localHostRoot: string;
  localHostSlots: number | undefined;
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
    databaseUrl,
    dataDir: path.join(home, "data"),
    localHostRoot: path.resolve(cwd, env.DRYDOCK_LOCAL_ROOT ?? path.join(home, "local-host")),
    localHostSlots: intFrom(env, "DRYDOCK_LOCAL_SLOTS", undefined, 1, 1024),
  };
}

/** Where the CLI finds the service. */
export function serviceUrl(env: NodeJS.ProcessEnv): string {
  return (env.DRYDOCK_URL || `http://127.0.0.1:${env.PORT || 8080}`).replace(/\/+$/, "");
}
