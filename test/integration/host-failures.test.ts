import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "../e2e/api-harness";
import { hostEntry, leaseEvents, resourcesOf, until } from "../support/ssh-pool";
import { sshdAvailable, sshdMissingMessage, startSshHosts, type SshHost, type SshHosts } from "../support/sshd";

/**
 * Failures a user can act on, with real sshd hosts, over the API:
 *  - a host that dies is noticed by the first lease that uses it, not at the next health
 *    interval (set to an hour here, so only the immediate check can explain what happens);
 *  - a configuration error is said as itself wherever a user looks, the blueprint records it so
 *    that nothing retries the same wall, and a fix retries the waiting leases at once.
 */
if (!sshdAvailable) console.warn(`skipping the host failure tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const KEY_ENV = `DRYDOCK_TEST_FAILURES_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
let api: ApiHarness;
const hostSets: SshHosts[] = [];
const roots: string[] = [];

beforeAll(async () => {
  if (!sshdAvailable) return;
  api = await startApi();
});

afterEach(() => {
  for (const name of Object.keys(process.env)) if (name.startsWith(KEY_ENV)) delete process.env[name];
});

afterAll(async () => {
  await api?.close();
  for (const set of hostSets) await set.close();
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function pool(prefix: string, count: number): Promise<SshHosts & { keyEnv: string; root: string }> {
  const set = await startSshHosts(count, prefix);
  hostSets.push(set);
  const keyEnv = `${KEY_ENV}_${prefix.toUpperCase()}`;
  process.env[keyEnv] = set.clientKey;
  const root = `/tmp/drydock-host-failures-${set.hosts[0]!.port}`;
  roots.push(root);
  return { ...set, keyEnv, root };
}

/** An hour between periodic checks: whatever happens within the test is the immediate check's doing. */
const slowChecks = { healthIntervalSeconds: 3600, healthFailuresBeforeBroken: 2, connectTimeoutSeconds: 3 };

async function createPool(name: string, config: Record<string, unknown>): Promise<string> {
  const res = await api.call("POST", "/v1/blueprints", { name, kind: "static-hosts", config });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function lease(blueprintId: string, attributes: Record<string, unknown> = {}, wait = 30): Promise<any> {
  const res = await api.call("POST", `/v1/leases?wait=${wait}`, { resourceType: "host", attributes, blueprintIds: [blueprintId] });
  // 201: active within the wait; 202: accepted and still pending.
  expect([201, 202], res.text).toContain(res.status);
  return res.body;
}

const resourceHost = async (resourceId: string) => (await api.call("GET", `/v1/resources/${resourceId}`)).body.attributes.host as string;

describeSsh("a host that dies", () => {
  it("takes no new lease: the first lease to find it dead moves to the other host, the host is checked now and broken, and explain shows the move", async () => {
    const ssh = await pool("dies", 2);
    const [a, b] = ssh.hosts as [SshHost, SshHost];
    const blueprintId = await createPool("dies", { hosts: [hostEntry(ssh, a, ssh.keyEnv, { slots: 2 }), hostEntry(ssh, b, ssh.keyEnv, { slots: 2 })], root: ssh.root, ...slowChecks });

    // One resource per host, both active; host a's is idle, so it is the first choice for a new lease.
    const onA = await lease(blueprintId, { host: a.name });
    const onB = await lease(blueprintId, { host: b.name });
    expect(onA.status).toBe("active");
    expect(onB.status).toBe("active");
    const resourceA = onA.resourceId as string;
    expect((await api.call("POST", `/v1/leases/${onA.id}/release`, {})).status).toBe(200);
    await api.pollLease(onA.id, (l) => l.status === "destroyed");

    await a.stop();
    const moved = await lease(blueprintId);
    expect(moved.status).toBe("active");
    expect(await resourceHost(moved.resourceId)).toBe(b.name);

    // It went to the dead host first (the allocator could not know), and moved off it at once.
    const events = await leaseEvents(api.drydock, moved.id);
    const acquired = events.filter((e) => e.type === "LeaseAcquired").map((e) => (e.data as { resourceId: string }).resourceId);
    expect(acquired).toEqual([resourceA, moved.resourceId]);
    const move = events.find((e) => e.type === "LeaseReacquiring")!;
    expect(move.data).toMatchObject({ resourceId: resourceA, reason: expect.stringContaining(`its host failed: cannot connect to ${a.name}`) });
    // The next attempt skipped the dead host's resource, saying why (unless the check had already
    // broken it: then it is no candidate at all).
    const attempts = events.filter((e) => e.type === "AllocationAttempted").map((e) => e.data as { candidates: { id: string; outcome: string; reason: string }[] });
    const last = attempts.at(-1)!.candidates.filter((c) => c.id === resourceA);
    expect(last).toEqual(last.length === 0 ? [] : [expect.objectContaining({ outcome: "skipped", reason: expect.stringMatching(/^is suspect \(a health check is under way\): a lease could not use it: cannot connect to/) })]);

    // Suspect at once, then broken by the check that ran now (an hour before the next periodic one).
    const resource = await until("the dead host's resource to break", async () => {
      const r = (await api.call("GET", `/v1/resources/${resourceA}`)).body;
      return r.status === "broken" || r.status === "destroyed" ? r : undefined;
    });
    expect(resource.endReason).toMatch(new RegExp(`failed 2 times in a row: cannot connect to ${a.name}`));
    const resourceEvents = (await api.call("GET", `/v1/resources/${resourceA}/events`)).body.items.map((e: { type: string }) => e.type);
    expect(resourceEvents.indexOf("ResourceSuspected")).toBeGreaterThan(resourceEvents.indexOf("ResourceActivated"));
    expect(resourceEvents.indexOf("ResourceBroken")).toBeGreaterThan(resourceEvents.indexOf("ResourceSuspected"));

    const explained = (await api.call("GET", `/v1/leases/${moved.id}/explain`)).body;
    expect(explained.summary).toContain(`moved off ${resourceA} (its host failed: cannot connect to ${a.name}`);
    expect(explained.timeline.map((s: { event: string }) => s.event)).toEqual(expect.arrayContaining(["LeaseAcquired", "ResourceSuspected", "LeaseReacquiring", "LeaseActivated"]));

    await api.call("POST", `/v1/leases/${moved.id}/release`, {});
    await api.call("POST", `/v1/leases/${onB.id}/release`, {});
    await a.start();
  });

  it("a command that finds its host dead counts against the host at once: the resource breaks and its lease is released with the reason", async () => {
    const ssh = await pool("cmd", 1);
    const [a] = ssh.hosts as [SshHost];
    const blueprintId = await createPool("cmd-dies", { hosts: [hostEntry(ssh, a, ssh.keyEnv)], root: ssh.root, ...slowChecks });
    const held = await lease(blueprintId);
    expect(held.status).toBe("active");
    const uptime = await api.call("POST", `/v1/leases/${held.id}/commands`, { argv: ["true"] });
    expect(uptime.body.exitCode).toBe(0);

    await a.stop();
    const refused = await api.call("POST", `/v1/leases/${held.id}/commands`, { argv: ["true"] });
    expect(refused.status).toBe(503);
    expect(refused.body.error.message).toContain(`cannot connect to ${a.name}`);

    const released = await api.pollLease(held.id, (l) => l.status === "released" || l.status === "destroyed", 20_000);
    expect(released.endReason).toMatch(new RegExp(`^resource-ended: resource ${held.resourceId} broken: .*failed 2 times in a row: cannot connect to ${a.name}`));
    const resource = (await api.call("GET", `/v1/resources/${held.resourceId}`)).body;
    expect(resource.endReason).toMatch(new RegExp(`failed 2 times in a row: cannot connect to ${a.name}`));
    await a.start();
  });
});

describeSsh("a host that restarts", () => {
  it("runs the next command on a new connection: the lease's dead one is replaced, and nothing counts against the host", async () => {
    const ssh = await pool("restart", 1);
    const [a] = ssh.hosts as [SshHost];
    const blueprintId = await createPool("restarts", { hosts: [hostEntry(ssh, a, ssh.keyEnv)], root: ssh.root, ...slowChecks });
    const held = await lease(blueprintId);
    expect((await api.call("POST", `/v1/leases/${held.id}/commands`, { argv: ["true"] })).body.exitCode).toBe(0);

    await a.stop();
    await a.start();
    const after = await api.call("POST", `/v1/leases/${held.id}/commands`, { argv: ["echo", "back"] });
    expect(after.status, after.text).toBe(200);
    expect(after.body).toMatchObject({ exitCode: 0, stdout: "back\n" });
    const resource = (await api.call("GET", `/v1/resources/${held.resourceId}`)).body;
    expect(resource).toMatchObject({ status: "active", suspectReason: null });
    await api.call("POST", `/v1/leases/${held.id}/release`, {});
  });
});

describeSsh("configuration errors", () => {
  it("refuses a key variable that is not set, at create and at PATCH, naming the field; nothing is appended", async () => {
    const ssh = await pool("env", 1);
    const [a] = ssh.hosts as [SshHost];
    const unset = `${KEY_ENV}_NEVER_SET`;
    const before = await api.eventCount();
    const created = await api.call("POST", "/v1/blueprints", { name: "env-unset", kind: "static-hosts", config: { hosts: [hostEntry(ssh, a, unset)], root: ssh.root } });
    expect(created.status).toBe(400);
    expect(created.body.error.message).toMatch(new RegExp(`^config\\.hosts\\.0\\.privateKey\\.env: environment variable ${unset} is not set`));
    expect(await api.eventCount()).toBe(before);

    const blueprintId = await createPool("env-set", { hosts: [hostEntry(ssh, a, ssh.keyEnv)], root: ssh.root });
    const patched = await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: { hosts: [hostEntry(ssh, a, unset)], root: ssh.root } });
    expect(patched.status).toBe(400);
    expect(patched.body.error.message).toContain(`config.hosts.0.privateKey.env: environment variable ${unset} is not set`);
    expect((await api.call("GET", `/v1/blueprints/${blueprintId}`)).body.config.hosts[0].privateKey).toEqual({ env: ssh.keyEnv });
  });

  it("says a key that went missing as itself in waitReason, the blueprint and explain; retries nothing; a fix retries the waiting leases at once", async () => {
    const ssh = await pool("gone", 1);
    const [a] = ssh.hosts as [SshHost];
    const config = { hosts: [hostEntry(ssh, a, ssh.keyEnv)], root: ssh.root, ...slowChecks };
    const blueprintId = await createPool("key-gone", config);
    // The service restarted without the variable: create checked it, nothing can check it since.
    delete process.env[ssh.keyEnv];

    const first = await lease(blueprintId, {}, 0);
    const said = new RegExp(`^configuration error: key-gone: the private key of host ${a.name}: environment variable ${ssh.keyEnv} is not set`);
    const waiting = await api.pollLease(first.id, (l) => l.status === "pending" && said.test(l.waitReason ?? ""), 20_000);
    expect(waiting.waitReason).not.toContain("is the host down");

    const blueprint = (await api.call("GET", `/v1/blueprints/${blueprintId}`)).body;
    expect(blueprint.failingTargets).toEqual([expect.objectContaining({ target: a.name, code: "bad_key", failures: 1, message: expect.stringContaining(`environment variable ${ssh.keyEnv} is not set`) })]);

    // The next lease does not try the same wall: it waits with the same words, and no resource is built for it.
    const second = await lease(blueprintId, {}, 0);
    await api.pollLease(second.id, (l) => l.status === "pending" && said.test(l.waitReason ?? ""), 20_000);
    expect(await resourcesOf(api.drydock, blueprintId)).toHaveLength(1);

    // Explain counts the wait as the configuration error's, not "for a free slot" (its summary
    // names waits of 50 ms and more, so look once there is that much of it).
    const explained = await until("the wait to be explained", async () => {
      const x = (await api.call("GET", `/v1/leases/${second.id}/explain`)).body;
      return x.waits[0]?.cause === "configuration" && x.waits[0].ms >= 50 ? x : undefined;
    });
    expect(explained.waits[0]).toMatchObject({ cause: "configuration", detail: expect.stringMatching(said) });
    expect(explained.waits.map((w: { cause: string }) => w.cause)).not.toContain("slot");
    expect(explained.summary).toContain("for a configuration error to be fixed");

    // The fix: the variable is back, and the operator saves the config. Both leases are retried
    // at once (each before its own backoff would have retried it) and activate.
    process.env[ssh.keyEnv] = ssh.clientKey;
    expect((await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config })).status).toBe(200);
    for (const id of [first.id, second.id]) {
      const active = await api.pollLease(id, (l) => l.status === "active", 20_000);
      const events = await leaseEvents(api.drydock, id);
      const acquiredAt = [...events].reverse().find((e) => e.type === "LeaseAcquired")!.recordedAt;
      const lastWait = [...events].reverse().find((e) => e.type === "LeaseWaiting" && e.recordedAt < acquiredAt)!;
      expect(acquiredAt.getTime()).toBeLessThan(new Date((lastWait.data as { retryAt: string }).retryAt).getTime());
      expect(active.waitReason).toBeNull();
    }
    expect((await api.call("GET", `/v1/blueprints/${blueprintId}`)).body.failingTargets).toEqual([]);
    for (const id of [first.id, second.id]) await api.call("POST", `/v1/leases/${id}/release`, {});
  });

  it("says a missing ready command as a configuration error, and a PATCH that fixes it lets the lease through", async () => {
    const ssh = await pool("ready", 1);
    const [a] = ssh.hosts as [SshHost];
    const config = (readyCommand: string[]) => ({ hosts: [hostEntry(ssh, a, ssh.keyEnv)], root: ssh.root, readyCommand, ...slowChecks });
    const blueprintId = await createPool("ready-missing", config(["drydock-no-such-command"]));
    const waiting = await lease(blueprintId, {}, 0);
    const pending = await api.pollLease(waiting.id, (l) => /^configuration error/.test(l.waitReason ?? ""), 20_000);
    expect(pending.waitReason).toContain(`the ready command "drydock-no-such-command" is not found on ${a.name} (exit 127)`);

    expect((await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: config(["true"]) })).status).toBe(200);
    await api.pollLease(waiting.id, (l) => l.status === "active", 20_000);
    await api.call("POST", `/v1/leases/${waiting.id}/release`, {});
  });
});
