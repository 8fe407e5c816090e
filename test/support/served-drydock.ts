import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase } from "./test-database";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** `drydock serve` in a child process, as a user starts it. */
export interface ServedDrydock {
  home: string;
  /** Where it listens: `http://127.0.0.1:<port>`. */
  url: string;
  /** Its environment: run the CLI with it to work on the same home and database. */
  env: NodeJS.ProcessEnv;
  /** What it has printed so far, stdout and stderr. */
  output(): string;
  /** Stops it (SIGTERM to its process group) and resolves once it has exited. */
  stop(): Promise<void>;
  /** Stops it, then drops its database and removes its home. */
  close(): Promise<void>;
}

/**
 * Starts `node bin/drydock.js serve` on a fresh home (and, on PostgreSQL runs, a fresh database),
 * on a port of its own, and resolves once it says it listens. `env` adds to its environment;
 * `viaTerminal` runs it under script(1), which gives it a pseudo-terminal as stdout. `alongside`
 * (PostgreSQL): a second service on that one's home and database, as a second `drydock serve` on
 * the same machine; its close stops it only.
 */
export async function serveDrydock(options: { env?: Record<string, string>; viaTerminal?: boolean; alongside?: ServedDrydock } = {}): Promise<ServedDrydock> {
  const shared = options.alongside;
  if (shared && !shared.env.DATABASE_URL) throw new Error("a second service on one database needs PostgreSQL (PGlite's directory is one process's)");
  const home = shared ? shared.home : await mkdtemp(path.join(tmpdir(), "drydock-serve-"));
  let database: TestDatabase | undefined;
  if (process.env.DATABASE_URL && !shared) database = await createTestDatabase({ poolSize: 1 });
  const env: NodeJS.ProcessEnv = { ...process.env, DRYDOCK_HOME: home, PORT: "0", HOST: "127.0.0.1", ...options.env };
  delete env.NODE_OPTIONS; // vitest's loader hooks are not what a user's shell has
  delete env.DATABASE_URL;
  if (database) env.DATABASE_URL = database.url;
  if (shared) env.DATABASE_URL = shared.env.DATABASE_URL;
  const command = [process.execPath, "bin/drydock.js", "serve"];
  const [file, args] = options.viaTerminal ? ["script", ["-qefc", command.map((a) => `'${a}'`).join(" "), "/dev/null"]] : [command[0]!, command.slice(1)];
  // Its own process group, so stopping it stops script's child too.
  const child = spawn(file, args, { cwd: repoRoot, env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  const chunks: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => chunks.push(b));
  child.stderr.on("data", (b: Buffer) => chunks.push(b));
  const output = () => Buffer.concat(chunks).toString("utf8");
  let gone = false;
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  void exited.then(() => (gone = true));
  const stop = async () => {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
    await exited;
  };
  const close = async () => {
    await stop();
    if (shared) return;
    await database?.close();
    await rm(home, { recursive: true, force: true });
  };

  const deadline = Date.now() + 60_000;
  let url: string | undefined;
  while (!(output().includes("drydock listening") && (url = /http:\/\/127\.0\.0\.1:\d+/.exec(output())?.[0]))) {
    if (gone || Date.now() > deadline) {
      await close();
      throw new Error(`the service did not start:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { home, url, env, output, stop, close };
}
