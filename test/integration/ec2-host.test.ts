import { EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ec2Command } from "../../src/cli/ec2-cli";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { startApi, type ApiHarness } from "../e2e/api-harness";
import { emulatorHostConfig } from "../support/ec2-emulator/blueprint-config";
import { startEc2Emulator, type Ec2Emulator } from "../support/ec2-emulator/emulator";
import { sshdAvailable, sshdMissingMessage } from "../support/sshd";
import { waitUntil } from "../support/wait-until";

/**
 * The `ec2-host` blueprint end to end, over the HTTP API, against the wire-level EC2 emulator:
 * the real SDK (credentials from its default chain: the environment), real sshd instances.
 * This is the original Drydock's test plan: lease a host in EC2, use it, release it, lease
 * again and get the same resource; then limits, EC2's errors, and lost answers.
 */
if (!sshdAvailable) console.warn(`skipping the ec2-host tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const KEY_ENV = `DRYDOCK_TEST_EC2_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
const SECRET = `emulator-secret-${randomBytes(8).toString("hex")}`;
const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
let emulator: Ec2Emulator;
let api: ApiHarness;
/** The instances' root: their "disks" are this machine's, so this file's own directory, removed at its end. */
let remoteRoot: string;

beforeAll(async () => {
  if (!sshdAvailable) return;
  remoteRoot = await mkdtemp(path.join(tmpdir(), "drydock-ec2-test-"));
  emulator = await startEc2Emulator({ bootDelayMs: 0 });
  process.env[KEY_ENV] = emulator.keyPair.privateKey;
  // The SDK's default provider chain finds them here, as on a developer's machine.
  process.env.AWS_ACCESS_KEY_ID = "AKIDDRYDOCKTEST";
  process.env.AWS_SECRET_ACCESS_KEY = SECRET;
  api = await startApi({}, { ec2: { maxAttempts: 1 }, ec2Reaper: { graceMs: 1_000 }, workerOptions: { failureRetryMs: 300 }, healthOptions: { maxIdleMs: 300 } });
});

const cleanups: (() => Promise<unknown>)[] = [];
const onCleanup = (fn: () => Promise<unknown>) => cleanups.push(fn);
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn();
  emulator?.faults.clear();
  if (!sshdAvailable) return;
  // After every case, whatever fault it injected: the log verifies, and no instance of this
  // installation runs without a live resource that owns it (nothing left that nobody watches).
  const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
  expect(report.violations).toEqual([]);
  const live = new Set((await api.drydock.database.db.selectFrom("resources").select("resource_id").where("status", "in", ["pending", "active", "released", "broken"]).execute()).map((r) => r.resource_id));
  const unowned = emulator.liveInstances().filter((i) => i.tags.get("drydock:installation")?.startsWith("in-") && i.tags.get("drydock:installation") !== "in-someoneelse0000000" && !live.has(i.tags.get("drydock:resource") ?? ""));
  expect(unowned.map((i) => `${i.instanceId} ${i.tags.get("drydock:resource") ?? "(no resource tag)"}`)).toEqual([]);
});

afterAll(async () => {
  await api?.close();
  await emulator?.close();
  if (remoteRoot) await rm(remoteRoot, { recursive: true, force: true });
  delete process.env[KEY_ENV];
  restore("AWS_ACCESS_KEY_ID", saved.id);
  restore("AWS_SECRET_ACCESS_KEY", saved.secret);
});

function restore(name: string, value: string | undefined) {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function config(extra: Record<string, unknown> = {}) {
  return emulatorHostConfig(emulator, KEY_ENV, remoteRoot, { slots: 2, maxInstances: 2, ...extra });
}

async function blueprint(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await api.call("POST", "/v1/blueprints", { name, kind: "ec2-host", config: config(extra) });
  if (res.status !== 201) throw new Error(`create blueprint: ${res.status} ${res.text}`);
  return res.body.id;
}

async function lease(blueprintId: string, wait = 0): Promise<any> {
  const res = await api.call("POST", `/v1/leases${wait ? `?wait=${wait}` : ""}`, { resourceType: "host", blueprintIds: [blueprintId] });
  if (![200, 201, 202].includes(res.status)) throw new Error(`lease: ${res.status} ${res.text}`);
  return res.body;
}

const instancesOf = (blueprintId: string) => emulator.instances().filter((i) => i.tags.get("drydock:blueprint") === blueprintId);
const liveInstancesOf = (blueprintId: string) => instancesOf(blueprintId).filter((i) => i.state === "pending" || i.state === "running");

async function releaseAndWait(leaseId: string) {
  await api.call("POST", `/v1/leases/${leaseId}/release`);
  await api.pollLease(leaseId, (l) => l.status === "destroyed", 20_000);
}

describeSsh("ec2-host against the EC2 emulator", () => {
  it("leases a host in EC2, runs uptime, writes and reads a file, releases it; the next lease gets the same resource", async () => {
    const bp = await blueprint("ec2-walk");
    const calls = emulator.calls();
    const started = Date.now();
    const first = await lease(bp, 30);
    const activeAfterMs = Date.now() - started;
    expect(first.status).toBe("active");
    const callsForLease = emulator.calls() - calls;

    const [instance] = instancesOf(bp);
    expect(instance).toBeDefined();
    const resource = (await api.call("GET", `/v1/resources/${first.resourceId}`)).body;
    expect(resource.attributes).toMatchObject({ instanceId: instance!.instanceId, address: instance!.address, instanceType: "t3.micro", market: "on-demand", hostKeyFingerprint: instance!.hostKey!.fingerprint });
    // Tagged at launch: its resource, its blueprint, this installation; ClientToken = resource id.
    expect(instance!.tags.get("drydock:resource")).toBe(first.resourceId);
    expect(instance!.tags.get("drydock:installation")).toMatch(/^in-[0-9a-f]{20}$/);
    expect(instance!.spec.clientToken).toBe(first.resourceId);

    const uptime = await api.call("POST", `/v1/leases/${first.id}/commands`, { argv: ["uptime"] });
    expect(uptime.status).toBe(200);
    expect(uptime.body.exitCode).toBe(0);
    expect(uptime.body.stdout).toContain("load average");
    expect((await api.call("PUT", `/v1/leases/${first.id}/files/build/out.txt`, "built!", { "content-type": "application/octet-stream" })).status).toBeLessThan(300);
    const read = await api.call("GET", `/v1/leases/${first.id}/files/build/out.txt`);
    expect(read.text).toBe("built!");
    // The file is on the instance (an sshd on its own address): the lease's directory is under the resource's root.
    const where = await api.call("POST", `/v1/leases/${first.id}/commands`, { argv: ["pwd"] });
    expect(where.body.stdout.trim()).toBe(`${remoteRoot}/${first.resourceId}/leases/${first.id}`);

    await releaseAndWait(first.id);
    const second = await lease(bp, 30);
    expect(second.status).toBe("active");
    expect(second.resourceId).toBe(first.resourceId);
    expect(emulator.launchedCount - instancesOf(bp).length).toBeGreaterThanOrEqual(0);
    expect(instancesOf(bp)).toHaveLength(1);
    await releaseAndWait(second.id);
    const timeline = emulator.callLog.slice(calls, calls + callsForLease).map((c) => `${c.action} +${c.at.getTime() - started} ms`);
    const history = (await api.call("GET", `/v1/leases/${first.id}/events`)).body;
    const steps = history.items.map((e: { type: string; recordedAt: string }) => `${e.type} +${new Date(e.recordedAt).getTime() - started} ms`);
    console.log(`ec2-host: lease request to active ${activeAfterMs} ms (boot delay 0), ${callsForLease} EC2 API calls for the first lease: ${timeline.join(", ")}; lease: ${steps.join(", ")}`);

    // The credentials came from the SDK's chain, and the secret is nowhere Drydock writes.
    expect(emulator.accessKeyIds()).toContain("AKIDDRYDOCKTEST");
    const events = await api.call("GET", "/v1/events?limit=1000");
    expect(events.status).toBe(200);
    expect(events.text).not.toContain(SECRET);
    expect(events.text).not.toContain("BEGIN OPENSSH PRIVATE KEY");
  });

  it("a burst of 50 leases on a limit of 5 launches 5 instances, by the log and by EC2's own count", { timeout: 120_000 }, async () => {
    const bp = await blueprint("ec2-burst", { maxInstances: 5, slots: 1 });
    const launchedBefore = emulator.launchedCount;
    const leases = await Promise.all(Array.from({ length: 50 }, () => lease(bp)));
    const states = async () => Promise.all(leases.map(async (l) => (await api.call("GET", `/v1/leases/${l.id}`)).body));
    try {
      await waitUntil("five leases active", async () => ((await states()).filter((l) => l.status === "active").length === 5 ? true : undefined), 60_000, {
        seen: async () => ({
          leases: (await states()).map((l) => `${l.status} ${l.resourceId ?? ""} ${l.waitReason ?? ""}`),
          resources: await api.drydock.database.db.selectFrom("resources").select(["resource_id", "status", "end_reason"]).where("blueprint_id", "=", bp).execute(),
        }),
      });
    } finally {
      // Whatever happened, these leases must not outlive this case (they would keep building).
      onCleanup(() => Promise.all(leases.map((l) => api.call("POST", `/v1/leases/${l.id}/release`))));
    }
    // Give the other 45 time to try (they wait for a slot); nothing more is launched.
    await new Promise((r) => setTimeout(r, 1_000));
    const waiting = (await states()).filter((l) => l.status === "pending");
    expect(waiting).toHaveLength(45);
    expect(waiting[0].waitReason).toContain("at its limit of 5");
    // The log: five resources built for this blueprint, ever. EC2: five instances launched.
    const allocated = (await api.drydock.database.db.selectFrom("events").select("data").where("event_type", "=", "ResourceAllocated").execute()).filter((e) => (e.data as { blueprintId: string }).blueprintId === bp);
    expect(allocated).toHaveLength(5);
    expect(instancesOf(bp)).toHaveLength(5);
    expect(emulator.launchedCount - launchedBefore).toBe(5);
    await Promise.all(leases.map((l) => api.call("POST", `/v1/leases/${l.id}/release`)));
    for (const l of leases) await api.pollLease(l.id, (x) => x.status === "destroyed", 30_000);
  });

  it("a permanent EC2 error breaks the resource with EC2's code and message; the lease waits saying so; nothing is launched", async () => {
    const bp = await blueprint("ec2-bad-ami", { imageId: "ami-0badbadbadbad0000" });
    emulator.faults.failNext("RunInstances", "InvalidAMIID.NotFound", { times: 100, when: { imageId: "ami-0badbadbadbad0000" }, message: "The image id '[ami-0badbadbadbad0000]' does not exist" });
    const waiting = await lease(bp);
    const pending = await api.pollLease(waiting.id, (l) => l.status === "pending" && /configuration error/.test(l.waitReason ?? ""), 20_000);
    expect(pending.waitReason).toContain("InvalidAMIID.NotFound: The image id '[ami-0badbadbadbad0000]' does not exist");
    const history = await api.call("GET", `/v1/leases/${waiting.id}/events`);
    expect(history.text).toContain("InvalidAMIID.NotFound");
    const resources = await api.drydock.database.db.selectFrom("resources").selectAll().where("blueprint_id", "=", bp).execute();
    expect(resources).toHaveLength(1);
    expect(resources[0]!.end_reason).toContain("InvalidAMIID.NotFound");
    const bpRow = await api.drydock.database.db.selectFrom("blueprints").select("failing_targets").where("blueprint_id", "=", bp).executeTakeFirstOrThrow();
    expect(bpRow.failing_targets).toEqual([expect.objectContaining({ target: "launch", code: "InvalidAMIID.NotFound" })]);
    expect(instancesOf(bp)).toHaveLength(0);
    emulator.faults.clear();
    await releaseAndWait(waiting.id);
  });

  it("falls back to the next instance type when EC2 has no capacity for the first", async () => {
    const bp = await blueprint("ec2-capacity", { instanceTypes: ["c5.large", "t3.small"] });
    emulator.faults.failNext("RunInstances", "InsufficientInstanceCapacity", { times: 100, when: { instanceType: "c5.large" } });
    const active = await lease(bp, 30);
    expect(active.status).toBe("active");
    const resource = (await api.call("GET", `/v1/resources/${active.resourceId}`)).body;
    expect(resource.attributes.instanceType).toBe("t3.small");
    expect(instancesOf(bp).map((i) => i.spec.instanceType)).toEqual(["t3.small"]);
    emulator.faults.clear();
    await releaseAndWait(active.id);
  });

  it("with no capacity on any shape, the lease moves to another blueprint; the first records the shortage and builds nothing until it is due", async () => {
    // Created first, so the allocator tries it first (blueprints are tried in id order).
    const short = await blueprint("ec2-short", { instanceTypes: ["c5.xlarge", "c5.2xlarge"] });
    const other = await blueprint("ec2-other", { instanceTypes: ["t3.small"] });
    emulator.faults.failNext("RunInstances", "InsufficientInstanceCapacity", { times: Infinity, when: { instanceType: "c5.xlarge" } });
    emulator.faults.failNext("RunInstances", "InsufficientInstanceCapacity", { times: Infinity, when: { instanceType: "c5.2xlarge" }, message: "We currently do not have sufficient c5.2xlarge capacity" });
    const res = await api.call("POST", "/v1/leases?wait=30", { resourceType: "host", blueprintIds: [short, other] });
    expect(res.status).toBe(201);
    const moved = res.body;
    expect(moved.status).toBe("active");
    const resource = (await api.call("GET", `/v1/resources/${moved.resourceId}`)).body;
    expect(resource.blueprintId).toBe(other);

    // Its history says where it went first and why it moved; nothing was launched on the short one.
    const history = (await api.call("GET", `/v1/leases/${moved.id}/events`)).body.items as { type: string; data: any }[];
    const move = history.find((e) => e.type === "LeaseReacquiring");
    expect(move?.data).toMatchObject({ shortage: true });
    // Both shapes were tried; the reason names each, and EC2's own message.
    expect(move?.data.reason).toContain("c5.xlarge in subnet-0aaa1111: InsufficientInstanceCapacity");
    expect(move?.data.reason).toContain("c5.2xlarge in subnet-0aaa1111: InsufficientInstanceCapacity");
    expect(move?.data.reason).toContain("We currently do not have sufficient c5.2xlarge capacity");
    expect(instancesOf(short)).toHaveLength(0);
    const built = await api.drydock.database.db.selectFrom("resources").select(["resource_id", "status", "end_reason"]).where("blueprint_id", "=", short).execute();
    expect(built).toEqual([expect.objectContaining({ resource_id: move!.data.resourceId, end_reason: expect.stringContaining("no capacity to build it") })]);
    const failing = (await api.call("GET", `/v1/blueprints/${short}`)).body.failingTargets;
    expect(failing).toEqual([expect.objectContaining({ target: "launch", cause: "shortage", code: "InsufficientInstanceCapacity", failures: 1 })]);
    // Due again after EC2's capacity hint (30 s), not the hour a configuration error can wait.
    const dueInMs = new Date(failing[0].retryAt).getTime() - Date.now();
    expect(dueInMs).toBeGreaterThan(20_000);
    expect(dueInMs).toBeLessThanOrEqual(30_000);

    // A lease only the short blueprint may serve waits, saying why, and builds nothing meanwhile.
    const stuck = await lease(short);
    const waiting = await api.pollLease(stuck.id, (l) => l.status === "pending" && /no capacity/.test(l.waitReason ?? ""), 20_000);
    expect(waiting.waitReason).toContain("EC2 had no capacity (InsufficientInstanceCapacity)");
    expect(await api.drydock.database.db.selectFrom("resources").select("resource_id").where("blueprint_id", "=", short).execute()).toHaveLength(1);
    const calls = emulator.callLog.filter((c) => c.action === "RunInstances").length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(emulator.callLog.filter((c) => c.action === "RunInstances").length).toBe(calls);

    // Capacity is back: enabling the blueprint again clears its record, and the waiting lease is served there.
    emulator.faults.clear();
    expect((await api.call("POST", `/v1/blueprints/${short}/disable`, { reason: "capacity test" })).status).toBeLessThan(300);
    expect((await api.call("POST", `/v1/blueprints/${short}/enable`)).status).toBeLessThan(300);
    const served = await api.pollLease(stuck.id, (l) => l.status === "active", 40_000);
    expect((await api.call("GET", `/v1/resources/${served.resourceId}`)).body.blueprintId).toBe(short);
    expect((await api.call("GET", `/v1/blueprints/${short}`)).body.failingTargets).toEqual([]);
    await releaseAndWait(moved.id);
    await releaseAndWait(stuck.id);
  });

  it("a lease moved by shortages again and again keeps waiting instead of breaking", async () => {
    const bp = await blueprint("ec2-never", { instanceTypes: ["c5.4xlarge"] });
    emulator.faults.failNext("RunInstances", "InsufficientInstanceCapacity", { times: Infinity, when: { instanceType: "c5.4xlarge" } });
    const waiting = await lease(bp);
    // Each enable clears the shortage record, so each round builds, runs short and moves the lease again.
    for (let round = 1; round <= 4; round++) {
      await waitUntil(`shortage ${round} recorded`, async () => {
        const events = (await api.call("GET", `/v1/leases/${waiting.id}/events`)).body.items as { type: string }[];
        return events.filter((e) => e.type === "LeaseReacquiring").length >= round ? true : undefined;
      }, 30_000);
      await api.call("POST", `/v1/blueprints/${bp}/disable`, { reason: "retry" });
      await api.call("POST", `/v1/blueprints/${bp}/enable`);
    }
    // The last enable lets it try once more: a build it may have acquired already, which runs
    // short and moves it back too. Four moves: more than the three resources a lease may see end
    // under it for other reasons.
    const now = await api.pollLease(waiting.id, (l) => l.status !== "acquired", 30_000);
    expect(now.status).toBe("pending");
    expect(instancesOf(bp)).toHaveLength(0);
    emulator.faults.clear();
    await releaseAndWait(waiting.id);
  });

  it("raising maxInstances with a PATCH raises the blueprint's limit with it; a limit an operator chose stays", async () => {
    const bp = await blueprint("ec2-grow", { maxInstances: 2 });
    const limit = async () => (await api.call("GET", `/v1/blueprints/${bp}`)).body.resourceLimit;
    expect(await limit()).toBe(2);
    expect((await api.call("PATCH", `/v1/blueprints/${bp}`, { config: config({ maxInstances: 4 }) })).status).toBe(200);
    expect(await limit()).toBe(4);
    expect((await api.call("PATCH", `/v1/blueprints/${bp}`, { resourceLimit: 3 })).status).toBe(200);
    expect((await api.call("PATCH", `/v1/blueprints/${bp}`, { config: config({ maxInstances: 6 }) })).status).toBe(200);
    expect(await limit()).toBe(3);
  });

  it("launches spot first, and falls back to on-demand when spot has no capacity", async () => {
    const bp = await blueprint("ec2-spot", { spot: true, maxInstances: 2, slots: 1 });
    const onSpot = await lease(bp, 30);
    expect((await api.call("GET", `/v1/resources/${onSpot.resourceId}`)).body.attributes.market).toBe("spot");
    expect(instancesOf(bp)[0]!.spec.spot).toBe(true);
    emulator.faults.failNext("RunInstances", "InsufficientInstanceCapacity", { times: 100, when: { market: "spot" } });
    const onDemand = await lease(bp, 30);
    expect(onDemand.status).toBe("active");
    expect((await api.call("GET", `/v1/resources/${onDemand.resourceId}`)).body.attributes.market).toBe("on-demand");
    await releaseAndWait(onSpot.id);
    await releaseAndWait(onDemand.id);
  });

  it("launches from a launch template (its image and type) when the config names one", async () => {
    const bp = await blueprint("ec2-template", { imageId: undefined, instanceTypes: [], launchTemplate: { name: "builders", version: "$Latest" } });
    const active = await lease(bp, 30);
    expect(active.status).toBe("active");
    const [instance] = instancesOf(bp);
    expect(instance!.spec.launchTemplate).toEqual({ id: undefined, name: "builders", version: "$Latest" });
    expect(instance!.spec.instanceType).toBe("t3.micro");
    await releaseAndWait(active.id);
  });

  it("after RunInstances' answer is lost, the retry adopts the instance it launched: one instance for the resource", async () => {
    const bp = await blueprint("ec2-lost");
    emulator.faults.loseResponse("RunInstances");
    const active = await lease(bp, 30);
    expect(active.status).toBe("active");
    expect(emulator.callLog.filter((c) => c.action === "RunInstances" && c.outcome === "lost")).toHaveLength(1);
    expect(instancesOf(bp)).toHaveLength(1);
    expect(instancesOf(bp)[0]!.tags.get("drydock:resource")).toBe(active.resourceId);
    await releaseAndWait(active.id);
  });

  it("refuses an instance whose console never shows its host key, and terminates it", async () => {
    const bp = await blueprint("ec2-no-key", { bootTimeoutSeconds: 2 });
    emulator.faults.hideHostKey();
    const waiting = await lease(bp);
    // Generous waits: on two cores shared with other test files, a boot timeout of 2 s and the
    // instance's sshd start can take far longer than they do alone (about 3 s). The test's own
    // timeout leaves room for all three, so one that gives up says where things stood.
    const seen = async () => ({
      lease: (await api.drydock.store.readStream(`lease-${waiting.id}`)).map((e) => e.type),
      resources: (await api.drydock.database.db.selectFrom("resources").select(["resource_id", "status", "end_reason"]).where("blueprint_id", "=", bp).execute()),
      instances: instancesOf(bp).map((i) => i.state),
    });
    const broken = await waitUntil(
      "the resource to break",
      async () => (await api.drydock.database.db.selectFrom("resources").selectAll().where("blueprint_id", "=", bp).execute()).find((r) => r.end_reason !== null),
      45_000,
      { seen },
    );
    expect(broken.end_reason).toContain("printed no SSH host key on its console");
    // The broken resource's own instance: the lease's fresh one may be running by then already.
    const itsInstances = () => instancesOf(bp).filter((i) => i.tags.get("drydock:resource") === broken.resource_id);
    await waitUntil("its instance to be terminated", () => itsInstances().length >= 1 && itsInstances().every((i) => i.state !== "pending" && i.state !== "running"), 45_000, { seen });
    // The lease is not lost: a fresh instance (with its key shown) serves it.
    await waitUntil("a fresh instance to serve the lease", async () => (await api.call("GET", `/v1/leases/${waiting.id}`)).body.status === "active", 45_000, { seen });
    await releaseAndWait(waiting.id);
  }, 150_000);

  it("destroying a resource terminates its instance and confirms it before the resource is destroyed", async () => {
    const bp = await blueprint("ec2-destroy");
    const active = await lease(bp, 30);
    const [instance] = instancesOf(bp);
    await releaseAndWait(active.id);
    expect(instance!.state).toBe("running");
    expect((await api.call("POST", `/v1/resources/${active.resourceId}/release`)).status).toBeLessThan(300);
    await waitUntil("the resource to be destroyed", async () => {
      const r = (await api.call("GET", `/v1/resources/${active.resourceId}`)).body;
      return r.status === "destroyed" ? r : undefined;
    });
    expect(["shutting-down", "terminated"]).toContain(instance!.state);
  });

  it("when EC2 refuses to terminate, the resource says so and asks less and less often; allowed again, the instance goes", async () => {
    const bp = await blueprint("ec2-no-terminate");
    const active = await lease(bp, 30);
    const [instance] = instancesOf(bp);
    await releaseAndWait(active.id);
    // A role without ec2:TerminateInstances, until an operator fixes it.
    emulator.faults.failNext("TerminateInstances", "UnauthorizedOperation", { times: Infinity, message: "You are not authorized to perform this operation." });
    expect((await api.call("POST", `/v1/resources/${active.resourceId}/release`)).status).toBeLessThan(300);

    // The worker's first retry is 300 ms here (startApi above), doubling: the resource's
    // failingStep as each failure in a row is recorded.
    const seen = new Map<number, { lastFailedAt: string; nextAttemptAt: string; lastError: string }>();
    await waitUntil(
      "three failed teardowns",
      async () => {
        const failing = (await api.call("GET", `/v1/resources/${active.resourceId}`)).body.failingStep;
        // Between tries (while one runs, nextAttemptAt is null).
        if (failing?.nextAttemptAt) seen.set(failing.failures, failing);
        return seen.has(3) || seen.has(4) ? true : undefined;
      },
      20_000,
      { intervalMs: 25, seen: () => [...seen.entries()] },
    );
    const wait = (f: { lastFailedAt: string; nextAttemptAt: string }) => Date.parse(f.nextAttemptAt) - Date.parse(f.lastFailedAt);
    const first = seen.get(1) ?? seen.get(2)!;
    const third = seen.get(3) ?? seen.get(4)!;
    // 150–300 ms after the first failure (half to all of 300), at least 600 after the third.
    expect(wait(first)).toBeLessThanOrEqual(600);
    expect(wait(third)).toBeGreaterThanOrEqual(600);
    expect(third.lastError).toMatch(/UnauthorizedOperation: You are not authorized to perform this operation/);
    expect(instance!.state).toBe("running");
    const resource = (await api.call("GET", `/v1/resources/${active.resourceId}`)).body;
    expect(resource).toMatchObject({ status: "released", failingStep: { step: "destroy" } });

    // Fixed: the blueprint's PATCH tries the teardown at once, and it goes through.
    emulator.faults.clear();
    expect((await api.call("PATCH", `/v1/blueprints/${bp}`, { config: config({ tags: { team: "ci" } }) })).status).toBe(200);
    const destroyed = await waitUntil("the resource to be destroyed", async () => {
      const r = (await api.call("GET", `/v1/resources/${active.resourceId}`)).body;
      return r.status === "destroyed" ? r : undefined;
    });
    expect(destroyed.failingStep).toBeNull();
    expect(["shutting-down", "terminated"]).toContain(instance!.state);
  });

  it("reaps an instance with this installation's tag whose resource the log does not know, after two passes a grace period apart", async () => {
    const bp = await blueprint("ec2-reap");
    const active = await lease(bp, 30);
    const [mine] = instancesOf(bp);
    const installation = mine!.tags.get("drydock:installation")!;
    const ec2 = new EC2Client({ region: emulator.region, endpoint: emulator.endpoint, maxAttempts: 1 });
    const launch = async (tags: Record<string, string>) =>
      (await ec2.send(new RunInstancesCommand({ ImageId: "ami-0123456789abcdef0", InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: "instance", Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }] }))).Instances![0]!.InstanceId!;
    // Launched for a resource the log never recorded (a database restored from before it), and another installation's.
    const orphan = await launch({ "drydock:installation": installation, "drydock:resource": "rs_neverrecorded00000", "drydock:blueprint": bp });
    const foreign = await launch({ "drydock:installation": "in-someoneelse0000000", "drydock:resource": "rs_neverrecorded00000" });
    ec2.destroy();

    const first = await api.drydock.ec2Reaper.pass();
    expect(first.reaped).toEqual([]);
    expect(first.suspects.map((s) => [s.instanceId, s.reason])).toEqual([[orphan, "its resource rs_neverrecorded00000 is unknown to the log"]]);
    await new Promise((r) => setTimeout(r, 1_100));
    const dry = await api.drydock.ec2Reaper.pass({ dryRun: true });
    expect(dry.reaped.map((s) => s.instanceId)).toEqual([orphan]);
    // A dry run terminates nothing: the orphan is as it was (still booting, on a loaded machine).
    expect(["pending", "running"]).toContain(emulator.instance(orphan)!.state);

    const second = await api.drydock.ec2Reaper.pass();
    expect(second.reaped.map((s) => s.instanceId)).toEqual([orphan]);
    expect(["shutting-down", "terminated"]).toContain(emulator.instance(orphan)!.state);
    // The history says which instance went, and why, on its blueprint's stream.
    const reapedEvents = (await api.drydock.store.readStream(`blueprint-${bp}`)).filter((e) => e.type === "BlueprintInstanceReaped");
    expect(reapedEvents.map((e) => [e.data, e.metadata.actor])).toEqual([
      [{ instanceId: orphan, resourceId: "rs_neverrecorded00000", region: emulator.region, reason: "its resource rs_neverrecorded00000 is unknown to the log" }, "ec2-reaper"],
    ]);
    // The live resource's instance and the other installation's are untouched.
    expect(emulator.instance(mine!.instanceId)!.state).toBe("running");
    expect(emulator.instance(foreign)!.state).toBe("running");

    // On demand, as `drydock ec2 reap`: a dry run names the orphan and touches nothing; a run
    // terminates it after its two passes agree.
    const ec2Again = new EC2Client({ region: emulator.region, endpoint: emulator.endpoint, maxAttempts: 1 });
    const another = (await ec2Again.send(new RunInstancesCommand({ ImageId: "ami-0123456789abcdef0", InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "drydock:installation", Value: installation }] }] }))).Instances![0]!.InstanceId!;
    ec2Again.destroy();
    const printed: string[] = [];
    expect(await ec2Command(api.database, ["reap", "--dry-run"], (line) => printed.push(line))).toBe(0);
    expect(printed).toEqual([`${another} (${emulator.region}) would be terminated if a pass after the grace period agrees: it carries this installation's tag but no drydock:resource tag`]);
    expect(["pending", "running"]).toContain(emulator.instance(another)!.state);
    printed.length = 0;
    expect(await ec2Command(api.database, ["reap", "--grace", "0"], (line) => printed.push(line))).toBe(0);
    expect(printed).toContain(`terminated ${another} (${emulator.region}): it carries this installation's tag but no drydock:resource tag`);
    expect(["shutting-down", "terminated"]).toContain(emulator.instance(another)!.state);
    expect(emulator.instance(mine!.instanceId)!.state).toBe("running");
    await releaseAndWait(active.id);
  });

  it("rides out throttling and a slow boot: the lease becomes active on one instance", async () => {
    const bp = await blueprint("ec2-throttled");
    emulator.faults.throttle("DescribeInstances", 3);
    emulator.faults.slowBoot(1_500);
    const active = await lease(bp, 40);
    expect(active.status).toBe("active");
    expect(emulator.callLog.filter((c) => c.action === "DescribeInstances" && typeof c.outcome === "object" && c.outcome.error === "RequestLimitExceeded")).toHaveLength(3);
    expect(instancesOf(bp)).toHaveLength(1);
    await releaseAndWait(active.id);
  });

  it("an instance that dies under a lease: its resource breaks, the lease ends saying why, and the dead instance's resource is destroyed", async () => {
    const bp = await blueprint("ec2-dies", { healthIntervalSeconds: 1, healthFailuresBeforeBroken: 1 });
    const active = await lease(bp, 30);
    const [instance] = instancesOf(bp);
    emulator.killInstance(instance!.instanceId);
    const ended = await api.pollLease(active.id, (l) => l.status === "released" || l.status === "destroyed", 30_000);
    expect(ended.endReason).toMatch(/cannot connect to i-[0-9a-f]+ \(127\.[0-9.]+:\d+\)/);
    await waitUntil("the broken resource to be destroyed", async () => {
      const r = (await api.call("GET", `/v1/resources/${active.resourceId}`)).body;
      return r.status === "destroyed" ? r : undefined;
    }, 30_000);
    await api.pollLease(active.id, (l) => l.status === "destroyed", 20_000);
  });

  it("terminates an instance idle for idleTerminateSeconds, counted from its last lease's end as the log has it", async () => {
    const bp = await blueprint("ec2-idle", { idleTerminateSeconds: 2, healthIntervalSeconds: 1 });
    const active = await lease(bp, 30);
    const [instance] = instancesOf(bp);
    await releaseAndWait(active.id);
    const released = await waitUntil("the idle resource to be released", async () => {
      const r = (await api.call("GET", `/v1/resources/${active.resourceId}`)).body;
      return r.status === "released" || r.status === "destroyed" ? r : undefined;
    }, 30_000);
    expect(released.endReason).toMatch(/^idle for \d+ s \(idleTerminateSeconds 2\): its instance is terminated$/);
    await waitUntil("its instance to be terminated", () => (["shutting-down", "terminated"].includes(instance!.state) ? true : undefined), 30_000);
    // Idle counts from the end of its last lease, not from its activation.
    const history = (await api.call("GET", `/v1/leases/${active.id}`)).body;
    expect(new Date(released.endedAt).getTime() - new Date(history.endedAt).getTime()).toBeGreaterThanOrEqual(2_000);
  });

  it("leaves no instance running once every resource is released, and the log verifies", { timeout: 90_000 }, async () => {
    const live = await api.drydock.database.db.selectFrom("resources").innerJoin("blueprints", "blueprints.blueprint_id", "resources.blueprint_id").select("resources.resource_id").where("blueprints.kind", "=", "ec2-host").where("resources.status", "in", ["pending", "active"]).execute();
    for (const r of live) await api.call("POST", `/v1/resources/${r.resource_id}/release`);
    await waitUntil("every ec2-host resource to be destroyed", async () => {
      const left = await api.drydock.database.db.selectFrom("resources").innerJoin("blueprints", "blueprints.blueprint_id", "resources.blueprint_id").select(["resources.resource_id", "resources.status"]).where("blueprints.kind", "=", "ec2-host").where("resources.status", "!=", "destroyed").execute();
      return left.length === 0 ? true : undefined;
    }, 60_000);
    const managed = emulator.liveInstances().filter((i) => i.tags.get("drydock:installation") !== "in-someoneelse0000000");
    expect(managed.map((i) => `${i.instanceId} ${i.tags.get("drydock:resource")}`)).toEqual([]);
    const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 0 });
    expect(report.violations).toEqual([]);
  });
});
