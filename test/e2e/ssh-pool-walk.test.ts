import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { issueToken } from "../../src/auth/token-commands";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { finishedRun, type FinishedRun } from "../support/finished-run";
import { listenOnLoopback, type LoopbackServer } from "../support/loopback-server";
import { hostEntry, until } from "../support/ssh-pool";
import { sshdAvailable, sshdMissingMessage, startSshHosts, type SshHost, type SshHosts } from "../support/sshd";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * The README's SSH pool walk as a new user did it, with the CLI over a real socket: three hosts,
 * build-2 stopped and build-3 pinned to the wrong key. Every problem is named where the user
 * looks (the CLI's wait, `drydock ls`, `drydock explain`), a `timeout 5 drydock lease --wait`
 * gives its lease back, and once both hosts are fixed every slot is usable and comes back.
 */
if (!sshdAvailable) console.warn(`skipping the SSH pool walk: ${sshdMissingMessage}`);
const itSsh = sshdAvailable ? it : it.skip;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const KEY_ENV = `DRYDOCK_TEST_WALK_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
let database: TestDatabase;
let drydock: Drydock;
let server: LoopbackServer;
let ssh: SshHosts;
let adminToken: string;
let root: string;

beforeAll(async () => {
  if (!sshdAvailable) return;
  ssh = await startSshHosts(3, "build");
  process.env[KEY_ENV] = ssh.clientKey;
  root = `/tmp/drydock-walk-${ssh.hosts[0]!.port}`;
  database = await createTestDatabase();
  drydock = await createDrydock({ database, localHost: false });
  ({ token: adminToken } = await issueToken(drydock.commands, { owner: "admin", role: "admin" }, { actor: "system" }));
  server = await listenOnLoopback(createApp(drydock).fetch);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await drydock?.close();
  await database?.close();
  await ssh?.close();
  if (root) await rm(root, { recursive: true, force: true });
  delete process.env[KEY_ENV];
}, 60_000);

/** `drydock …` as a user types it, optionally under coreutils' `timeout`. */
function drydockCli(args: string[], options: { timeoutSeconds?: number } = {}): Promise<FinishedRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, DRYDOCK_URL: `http://127.0.0.1:${server.port}`, DRYDOCK_TOKEN: adminToken };
  delete env.NODE_OPTIONS;
  const argv = [process.execPath, "bin/drydock.js", ...args];
  const [command, ...rest] = options.timeoutSeconds ? ["timeout", String(options.timeoutSeconds), ...argv] : argv;
  return finishedRun(spawn(command!, rest, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] }));
}

async function api(method: string, url: string, body?: unknown): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${server.port}${url}`, {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

itSsh("walks the SSH pool section with one host stopped and one misconfigured: every problem named, every slot back", async () => {
  const [one, two, three] = ssh.hosts as [SshHost, SshHost, SshHost];
  const config = (threeFingerprint: string) => ({
    root,
    healthIntervalSeconds: 3600,
    connectTimeoutSeconds: 3,
    hosts: [hostEntry(ssh, one, KEY_ENV, { slots: 1 }), hostEntry(ssh, two, KEY_ENV, { slots: 1 }), hostEntry(ssh, three, KEY_ENV, { slots: 1, hostKeyFingerprint: threeFingerprint })],
  });
  await two.stop();
  const blueprint = await api("POST", "/v1/blueprints", { name: "build-hosts", kind: "static-hosts", config: config(ssh.strangerFingerprint) });
  const lease = ["lease", "--type", "host", "--blueprint", blueprint.id];

  // A lease lands on the one host that works, whichever bad ones it tries first.
  const first = await drydockCli([...lease, "--wait=60"]);
  expect(first.code, first.stderr).toBe(0);
  const firstId = first.stdout.trim();
  expect((await api("GET", `/v1/resources/${(await api("GET", `/v1/leases/${firstId}`)).resourceId}`)).attributes.host).toBe(one.name);

  // The next one waits, and the CLI says why, naming both problems; `timeout` ends it and the
  // lease goes back.
  const second = await drydockCli([...lease, "--wait"], { timeoutSeconds: 5 });
  expect(second.code).toBe(124);
  expect(second.stderr).toMatch(/the host key of build-c .* did not match its pinned fingerprint/);
  expect(second.stderr).toMatch(/build-b's last resource is broken \(activation failed: cannot connect to build-b .*ECONNREFUSED\)/);
  const secondId = /lease (ls_\w+) released/.exec(second.stderr)?.[1];
  expect(secondId, second.stderr).toBeDefined();
  expect(["released", "destroyed"]).toContain((await api("GET", `/v1/leases/${secondId}`)).status);

  // `drydock ls` names them too.
  const resources = await drydockCli(["ls", "resources"]);
  expect(resources.stdout).toMatch(/broken .*activation failed: cannot connect to build-b/);
  const blueprints = await drydockCli(["ls", "blueprints"]);
  expect(blueprints.stdout).toMatch(/build-hosts .*the host key of build-c .* did not match/);
  // And explain tells the wait apart from an ordinary one.
  const explained = await drydockCli(["explain", "lease", secondId!]);
  expect(explained.stdout).toMatch(/the host key of build-c/);

  // Fix both: start build-2, pin build-3's real key. Three leases at once, one per host.
  await two.start();
  await api("PATCH", `/v1/blueprints/${blueprint.id}`, { config: config(three.fingerprint) });
  const more = await Promise.all([drydockCli([...lease, "--wait=60"]), drydockCli([...lease, "--wait=60"])]);
  for (const run of more) expect(run.code, run.stderr).toBe(0);
  const ids = [firstId, ...more.map((r) => r.stdout.trim())];
  const hostsInUse = await Promise.all(ids.map(async (id) => (await api("GET", `/v1/resources/${(await api("GET", `/v1/leases/${id}`)).resourceId}`)).attributes.host));
  expect(hostsInUse.sort()).toEqual([one.name, two.name, three.name]);

  // Every slot comes back: released, no lease is left holding or waiting for one.
  expect((await drydockCli(["release", ...ids])).code).toBe(0);
  await until("every lease to be destroyed", async () => {
    const live = await api("GET", `/v1/leases?status=pending,acquired,active,released,broken`);
    return live.items.length === 0;
  });
  const active = await api("GET", `/v1/resources?blueprintId=${blueprint.id}&status=active`);
  expect(active.items.map((r: { liveLeases: number }) => r.liveLeases)).toEqual([0, 0, 0]);
}, 120_000);
