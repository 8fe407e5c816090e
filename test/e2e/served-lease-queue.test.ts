import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { repoRoot, serveDrydock, type ServedDrydock } from "../support/served-drydock";
import { waitUntil } from "../support/wait-until";

/**
 * A CI system queueing for the local host of a real `drydock serve`: eight jobs at once with its
 * client token, each asking for a lease with `?wait` over a socket, running a command in it and
 * releasing it. They share seven free slots (one more lease holds the eighth), so leases wait
 * and are decided on by the worker and by the requests' own runs at once. Every lease answered active must have its directory (its
 * command runs), and when the load is over nothing may be left: every lease destroyed, no lease
 * directory or cgroup on the machine, and `drydock verify` content with the log.
 *
 * On PostgreSQL the same load runs once more against two services on one database and one home,
 * the jobs taking turns between them, as two `drydock serve` on one machine: a waiting lease is
 * then decided on by runs in both, where no hold of one process reaches the other. (The race
 * that could remove a lease's directory across two services is too rare to show here: three
 * runs of the code before its fix passed. The interleaving test has it, and fails without it.)
 *
 * This is how a lease answered active with no directory was found: before the fix, 8 and 2 of
 * about 300 leases in two runs here (test/integration/lease-activation-race.test.ts has each
 * interleaving step by step, and fails every time without the fix). It showed with the jobs sharing one token, not with a token each, and not in the
 * in-process harness (app.request), whose timing differs from a served process's.
 */
const JOBS = 8;
const SLOTS = JOBS;
// Enough leases that one in twenty going wrong could not pass unseen. A count, not a span of
// time: a busy CI machine gets through fewer cycles a second, and the load must not shrink with it.
const LEASES = 120;
const LOAD_DEADLINE_MS = 120_000;

const started: ServedDrydock[] = [];
afterEach(async () => {
  // The second service first: the first's close removes the home they share.
  for (const service of started.splice(0).reverse()) await service.close();
});

async function serve(alongside?: ServedDrydock): Promise<ServedDrydock> {
  const service = await serveDrydock({ env: { DRYDOCK_LOCAL_SLOTS: String(SLOTS), DRYDOCK_LEASE_RATE: "0", DRYDOCK_COMMAND_RATE: "0" }, ...(alongside ? { alongside } : {}) });
  started.push(service);
  return service;
}

async function call(url: string, token: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + route, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function clientToken(url: string, adminToken: string, owner: string, blueprintId: string): Promise<string> {
  const issued = await call(url, adminToken, "POST", "/v1/tokens", { owner, role: "client" });
  expect(issued.status).toBe(201);
  const asked = await call(url, adminToken, "POST", `/v1/blueprints/${blueprintId}/authorizations`, { client: owner });
  if (asked.body.state !== "approved") expect((await call(url, adminToken, "POST", `/v1/authorizations/${asked.body.id}/approve`)).status).toBe(200);
  return issued.body.token;
}

/**
 * Eight jobs of one client (they share its token) queueing for seven free slots, job i sending
 * to `services[i % n]`; then what must hold once the load is over.
 */
async function queueForSevenSlots(services: ServedDrydock[]): Promise<void> {
  const first = services[0]!;
  const adminToken = (await readFile(path.join(first.home, "admin.token"), "utf8")).trim();
  const admin = (method: string, route: string, body?: unknown) => call(first.url, adminToken, method, route, body);
  const blueprints = await admin("GET", "/v1/blueprints");
  const localHost = blueprints.body.items.find((b: { kind: string }) => b.kind === "local-host");
  const token = await clientToken(first.url, adminToken, "ci", localHost.id);
  const holder = await admin("POST", "/v1/leases?wait=30", { resourceType: "host" });
  expect(holder.body.status).toBe("active");

  const answered: string[] = [];
  const failures: string[] = [];
  const deadline = Date.now() + LOAD_DEADLINE_MS;
  const job = async (url: string) => {
    while (answered.length < LEASES) {
      if (Date.now() > deadline) throw new Error(`only ${answered.length} of ${LEASES} leases answered active in ${LOAD_DEADLINE_MS} ms`);
      const lease = await call(url, token, "POST", "/v1/leases?wait=30", { resourceType: "host" });
      if (lease.status !== 201 || lease.body.status !== "active") {
        failures.push(`acquire: ${lease.status} ${JSON.stringify(lease.body)}`);
        return;
      }
      answered.push(lease.body.id);
      const ran = await call(url, token, "POST", `/v1/leases/${lease.body.id}/commands`, { argv: ["true"] });
      if (ran.status !== 200 || ran.body.exitCode !== 0) failures.push(`command in ${lease.body.id}: ${ran.status} ${JSON.stringify(ran.body)}`);
      const released = await call(url, token, "POST", `/v1/leases/${lease.body.id}/release`);
      if (released.status !== 200) failures.push(`release of ${lease.body.id}: ${released.status} ${JSON.stringify(released.body)}`);
    }
  };
  await Promise.all(Array.from({ length: JOBS }, (_, i) => job(services[i % services.length]!.url)));
  expect(failures).toEqual([]);
  expect(answered.length).toBeGreaterThanOrEqual(LEASES);

  expect((await admin("POST", `/v1/leases/${holder.body.id}/release`)).status).toBe(200);
  const undestroyed = async () => (await admin("GET", "/v1/leases?status=pending,acquired,active,released,broken&limit=100")).body.items;
  await waitUntil("every lease destroyed", async () => ((await undestroyed()).length === 0 ? true : undefined), 30_000, { seen: async () => (await undestroyed()).map((l: { id: string; status: string }) => `${l.id} ${l.status}`) });
  const resourceRoot = path.join(first.home, "local-host", holder.body.resourceId);
  for (const dir of ["leases", "tmp"]) {
    const left = existsSync(path.join(resourceRoot, dir)) ? readdirSync(path.join(resourceRoot, dir)) : [];
    expect(left, `${dir}/ after every lease was destroyed`).toEqual([]);
  }
  const cgroups = "/sys/fs/cgroup/pids/drydock";
  if (existsSync(cgroups)) {
    const ours = new Set([holder.body.id, ...answered]);
    expect(readdirSync(cgroups).filter((name) => ours.has(name))).toEqual([]);
  }

  // The log, checked whole by the tool an operator runs (PGlite's directory is the service's
  // alone while it runs: stop it first).
  for (const service of services) await service.stop();
  const verify = spawnSync(process.execPath, ["bin/drydock.js", "verify"], { cwd: repoRoot, env: first.env, encoding: "utf8", timeout: 120_000 });
  expect(verify.status, `${verify.stdout}\n${verify.stderr}`).toBe(0);
  expect(verify.stdout).toContain("every transition legal");
}

it("eight jobs of one client queueing for seven slots: every lease answered active runs its command, and nothing is left after", async () => {
  await queueForSevenSlots([await serve()]);
}, 240_000);

it.skipIf(!process.env.DATABASE_URL)("the same with two services on one database and one home, the jobs taking turns between them", async () => {
  const first = await serve();
  await queueForSevenSlots([first, await serve(first)]);
}, 240_000);
