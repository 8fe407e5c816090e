import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * `drydock serve` on a new install creates the first admin token and writes it to
 * $DRYDOCK_HOME/admin.token. With its output going to a pipe (a log file, a journal), the token
 * never appears in that output, which names the file instead; on a terminal it is shown once.
 * The service runs as a user starts it: `node bin/drydock.js serve`, in a child process.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hasScript = spawnSync("script", ["--version"]).status === 0;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Started {
  home: string;
  output: () => string;
}

/**
 * Starts the service on a fresh home (and, on PostgreSQL runs, a fresh database) and resolves
 * once it says it listens; stops it after the test. `viaTerminal` runs it under script(1),
 * which gives it a pseudo-terminal as stdout.
 */
async function startServe(viaTerminal: boolean): Promise<Started> {
  const home = await mkdtemp(path.join(tmpdir(), "drydock-serve-"));
  let database: TestDatabase | undefined;
  if (process.env.DATABASE_URL) database = await createTestDatabase({ poolSize: 1 });
  const env: NodeJS.ProcessEnv = { ...process.env, DRYDOCK_HOME: home, PORT: "0", HOST: "127.0.0.1" };
  delete env.NODE_OPTIONS; // vitest's loader hooks are not what a user's shell has
  delete env.DATABASE_URL;
  if (database) env.DATABASE_URL = database.url;
  const command = [process.execPath, "bin/drydock.js", "serve"];
  const [file, args] = viaTerminal ? ["script", ["-qefc", command.map((a) => `'${a}'`).join(" "), "/dev/null"]] : [command[0]!, command.slice(1)];
  // Its own process group, so stopping it stops script's child too.
  const child = spawn(file, args, { cwd: repoRoot, env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  const chunks: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => chunks.push(b));
  child.stderr.on("data", (b: Buffer) => chunks.push(b));
  const output = () => Buffer.concat(chunks).toString("utf8");
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  cleanups.push(async () => {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
    await exited;
    await database?.close();
    await rm(home, { recursive: true, force: true });
  });

  const deadline = Date.now() + 45_000;
  let gone = false;
  void exited.then(() => (gone = true));
  while (!(output().includes("drydock listening") && /http:\/\/127\.0\.0\.1:\d+/.test(output()))) {
    if (gone || Date.now() > deadline) throw new Error(`the service did not start:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { home, output };
}

describe("drydock serve, first start", () => {
  it("with output to a pipe: the token is only in admin.token (0600), and the output says where", async () => {
    const { home, output } = await startServe(false);
    const file = path.join(home, "admin.token");
    const token = (await readFile(file, "utf8")).trim();
    expect(token).toMatch(/^ddk_[A-Za-z0-9_-]{43}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const log = output();
    expect(log).not.toContain(token);
    expect(log).not.toContain(token.slice(4, 20));
    expect(log).toContain(file);
    expect(log).toMatch(/not a terminal/);
  });

  it.skipIf(!hasScript)("on a terminal: the token is shown, once", async () => {
    const { home, output } = await startServe(true);
    const token = (await readFile(path.join(home, "admin.token"), "utf8")).trim();
    expect(output().split(token).length - 1).toBe(1);
    expect(output()).toContain(path.join(home, "admin.token"));
  });
});
