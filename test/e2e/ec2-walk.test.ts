import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { finishedRun, type FinishedRun } from "../support/finished-run";
import { sshdAvailable, sshdMissingMessage } from "../support/sshd";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitUntil } from "../support/wait-until";

/**
 * The README's "Try it without an AWS account" walk, as a new user types it: its commands are read
 * from the README itself (so the test breaks when the README stops working), run by bash in the
 * repository, each service in its own process as in two terminals. Only the ports and the data
 * directory change (PORT, DRYDOCK_HOME, DRYDOCK_URL: the variables the README documents), so that
 * the walk can run beside other tests; on PostgreSQL runs `npm start` gets a throwaway database.
 */
if (!sshdAvailable) console.warn(`skipping the EC2 README walk: ${sshdMissingMessage}`);
const itSsh = sshdAvailable ? it : it.skip;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");

/** The `$ ` commands of each sh block in the README section under `heading`, in order. */
function sectionCommands(heading: string): string[][] {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no section ${heading}`);
  const end = readme.indexOf("\n### ", start + heading.length + 2);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!.split("\n").filter((line) => line.startsWith("$ ")).map((line) => line.slice(2).replace(/\s+#.*$/, "")),
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const children: ChildProcess[] = [];
let home: string | undefined;
let database: TestDatabase | undefined;

afterAll(async () => {
  // Ctrl-C in each terminal, as the README says: the emulator terminates its instances.
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const signal = (name: NodeJS.Signals) => {
            try {
              process.kill(-child.pid!, name);
            } catch {
              // already gone
            }
          };
          const kill = setTimeout(() => signal("SIGKILL"), 10_000);
          child.once("close", () => (clearTimeout(kill), resolve()));
          signal("SIGINT");
        }),
    ),
  );
  await database?.close();
  if (home) await rm(home, { recursive: true, force: true });
}, 30_000);

/** A terminal running `command`, with what it printed so far. */
function terminal(command: string, env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  let output = "";
  // Its own process group, like a terminal's job: Ctrl-C reaches npm and the node under it.
  const child = spawn("bash", ["-c", command], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.stdout!.on("data", (b: Buffer) => (output += b.toString("utf8")));
  child.stderr!.on("data", (b: Buffer) => (output += b.toString("utf8")));
  children.push(child);
  return { child, output: () => output };
}

function run(script: string, env: NodeJS.ProcessEnv): Promise<FinishedRun> {
  return finishedRun(spawn("bash", ["-euo", "pipefail", "-c", script], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] }));
}

itSsh("the README's EC2 walk works as written: two commands start it, a lease runs uname, moves a file and is released", async () => {
  const [[startDrydock, startEmulator], walk] = sectionCommands("### Try it without an AWS account") as [[string, string], string[]];
  expect(startDrydock).toBe("AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator npm start");
  expect(startEmulator).toMatch(/^npx tsx test\/support\/ec2-emulator\/main\.ts --port 4566 --create-blueprint$/);

  home = await mkdtemp(path.join(tmpdir(), "drydock-ec2-walk-"));
  const [drydockPort, emulatorPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, DRYDOCK_HOME: home, PORT: String(drydockPort), DRYDOCK_URL: `http://127.0.0.1:${drydockPort}` };
  delete env.NODE_OPTIONS;
  delete env.VITEST;
  // Never the shared test database: PostgreSQL runs give the service a throwaway one.
  delete env.DATABASE_URL;
  if (process.env.DATABASE_URL) {
    database = await createTestDatabase({ poolSize: 1 });
    env.DATABASE_URL = database.url;
  }

  const drydock = terminal(startDrydock, env);
  const emulator = terminal(startEmulator.replace("--port 4566", `--port ${emulatorPort}`), env);
  const leaseLine = await waitUntil(
    "the emulator to create its blueprint and print the lease command",
    () => {
      for (const t of [drydock, emulator]) if (t.child.exitCode !== null) throw new Error(`a terminal's command exited (${t.child.exitCode}): ${t.output().slice(-2000)}`);
      return /^\s+(npx drydock lease --type host --blueprint (bp_\w+) --wait)$/m.exec(emulator.output()) ?? undefined;
    },
    90_000,
    { seen: () => ({ drydock: drydock.output().slice(-2000), emulator: emulator.output().slice(-2000) }) },
  );
  const blueprintId = leaseLine[2]!;
  expect(emulator.output()).toContain(`EC2 emulator on http://127.0.0.1:${emulatorPort} (region us-east-1)`);

  // The second block, with the README's example blueprint id replaced by the one just created.
  const exampleId = /--blueprint (bp_\w+)/.exec(walk[0]!)?.[1];
  expect(exampleId).toBeDefined();
  expect(walk[0]).toBe(leaseLine[1]!.replace(blueprintId, exampleId!).replace(/^npx/, "ID=$(npx") + ")");
  const script = walk.map((line) => line.replaceAll(exampleId!, blueprintId)).join("\n");
  const result = await run(`${script}\necho "lease=$ID"`, env);
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  const leaseId = /^lease=(ls_\w+)$/m.exec(result.stdout)?.[1];
  expect(leaseId, result.stdout).toBeDefined();
  // `uname -a` ran on the instance, and the file went there and back.
  expect(result.stdout).toMatch(/^Linux /m);
  expect(result.stdout).toContain("hello\n");
  // The instance's files are in the walk's home (gone with it), not in a /tmp directory that outlives it.
  expect(`${result.stdout}${result.stderr}`).toContain(`dir=${home}/ec2-emulator/instances/rs_`);

  // The lease's resource is an emulated EC2 instance, and the lease ends once released.
  const headers = { authorization: `Bearer ${readFileSync(path.join(home, "admin.token"), "utf8").trim()}` };
  const get = async (url: string) => (await fetch(`http://127.0.0.1:${drydockPort}${url}`, { headers })).json() as Promise<any>;
  const ended = await waitUntil("the released lease to be destroyed", async () => {
    const lease = await get(`/v1/leases/${leaseId}`);
    return lease.status === "destroyed" ? lease : undefined;
  }, 30_000);
  const resource = await get(`/v1/resources/${ended.resourceId}`);
  expect(resource.blueprintId).toBe(blueprintId);
  expect(resource.attributes.instanceId).toMatch(/^i-[0-9a-f]+$/);
  const state = (await (await fetch(`http://127.0.0.1:${emulatorPort}/_emulator/state`)).json()) as { instances: { instanceId: string; state: string }[] };
  expect(state.instances.find((i) => i.instanceId === resource.attributes.instanceId)?.state).toBe("running");
}, 180_000);
