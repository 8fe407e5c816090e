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
 * `viaTerminal` runs it under script(1), which gives it a pseudo-terminal as stdout.
 */
export async function serveDrydock(options: { env?: Record<string, string>; viaTerminal?: boolean } = {}): Promise<ServedDrydock> {
  const home = await mkdtemp(path.join(tmpdir(), "drydock-serve-"));
  let database: TestDatabase | undefined;
  if (process.env.DATABASE_URL) database = await createTestDatabase({ poolSize: 1 });
  const env: NodeJS.ProcessEnv = { ...process.env, DRYDOCK_HOME: home, PORT: "0", HOST: "127.0.0.1", ...options.env };
  delete env.NODE_OPTIONS; // vitest's loader hooks are not what a user's shell has
  delete env.DATABASE_URL;
  if (database) env.DATABASE_URL = database.url;
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
