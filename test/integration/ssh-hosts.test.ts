import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TemporaryFailure } from "../../src/blueprints/failures";
import { createBlueprint, updateBlueprint } from "../../src/commands/blueprint-commands";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { hostEntry, leaseEvents, leaseRow, resourcesOf, until } from "../support/ssh-pool";
import { sshdAvailable, sshdMissingMessage, startSshHosts, type SshHost, type SshHosts } from "../support/sshd";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * The `static-hosts` blueprint end to end against real sshd hosts: host keys, a host going down
 * under a lease, draining. Each case has its own hosts, so killing one touches no other case.
 */
if (!sshdAvailable) console.warn(`skipping the static-hosts tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const KEY_ENV = `DRYDOCK_TEST_SSH_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
const actor = { actor: "ssh-test" };
let database: TestDatabase;
let drydock: Drydock;
const hostSets: SshHosts[] = [];
const unexpected: unknown[] = [];

beforeAll(async () => {
  if (!sshdAvailable) return;
  database = await createTestDatabase();
  drydock = await createDrydock({
    database,
    localHost: false,
    healthOptions: { maxIdleMs: 200 },
    // A broken host's teardown is retried at the health interval (1 s here), not the default 5 s.
    workerOptions: { failureRetryMs: 500 },
    onWorkerError: (error) => {
      // A broken host's teardown waits for the host: expected while a host is down.
      if (error instanceof TemporaryFailure && error.code === "host_unreachable") return;
      unexpected.push(error);
    },
  });
});

afterAll(async () => {
  await drydock?.close();
  await database?.close();
  for (const set of hostSets) {
    await set.close();
    // The hosts are this machine: remove what the resources left under the pool's root.
    await rm(rootOf(set), { recursive: true, force: true });
  }
  for (const name of Object.keys(process.env)) if (name.startsWith(KEY_ENV)) delete process.env[name];
});

/** Two fresh hosts; their client key is referenced from the config by an environment variable. */
async function hosts(prefix: string): Promise<SshHosts & { keyEnv: string }> {
  const set = await startSshHosts(2, prefix);
  hostSets.push(set);
  const keyEnv = `${KEY_ENV}_${prefix.toUpperCase()}`;
  process.env[keyEnv] = set.clientKey;
  return Object.assign(set, { keyEnv });
}

const rootOf = (ssh: SshHosts) => `/tmp/drydock-ssh-test-${ssh.hosts[0]!.port}`;

function poolConfig(ssh: SshHosts, hostConfigs: Record<string, unknown>[]) {
  return { hosts: hostConfigs, root: rootOf(ssh), healthIntervalSeconds: 1, healthFailuresBeforeBroken: 2, connectTimeoutSeconds: 3 };
}

const request = (blueprintId: string, attributes: Record<string, unknown> = {}) =>
  requestLease(drydock.commands, { resourceType: "host", attributes, blueprintIds: [blueprintId] }, "ssh-test", actor);

async function hostOfLease(leaseId: string): Promise<string> {
  const lease = await leaseRow(drydock, leaseId);
  const resource = await drydock.database.db.selectFrom("resources").select("attributes").where("resource_id", "=", lease.resource_id!).executeTakeFirstOrThrow();
  return (resource.attributes as { host: string }).host;
}

describeSsh("static-hosts against real sshd", () => {
  it("breaks a resource whose host shows another key, saying so; the lease waits, another lands elsewhere", async () => {
    const ssh = await hosts("key");
    const [a, b] = ssh.hosts as [SshHost, SshHost];
    const config = (fingerprint: string) => poolConfig(ssh, [hostEntry(ssh, a, ssh.keyEnv, { hostKeyFingerprint: fingerprint }), hostEntry(ssh, b, ssh.keyEnv)]);
    const blueprintId = await createBlueprint(drydock.commands, { name: "keys", kind: "static-hosts", config: config(ssh.strangerFingerprint) }, actor);

    const pinned = await request(blueprintId, { host: a.name });
    const broken = await until("the resource on the impostor host to break", async () => (await resourcesOf(drydock, blueprintId)).find((r) => r.end_reason !== null));
    expect(broken.attributes).toMatchObject({ host: a.name });
    expect(broken.end_reason).toContain(`the host key of ${a.name} (127.0.0.1:${a.port}) did not match its pinned fingerprint`);
    expect(broken.end_reason).toContain(`expected ${ssh.strangerFingerprint}, got ${a.fingerprint}`);

    // Back to pending, waiting, and the wait says the configuration error as itself: nothing
    // retries the same wall, and the blueprint records which host is failing and why.
    const waiting = await until("the pinned lease to wait", async () => {
      const l = await leaseRow(drydock, pinned);
      return l.status === "pending" && l.wait_reason ? l : undefined;
    });
    expect(waiting.wait_reason).toMatch(new RegExp(`^configuration error: keys: the host key of ${a.name} .* did not match its pinned fingerprint`));
    expect(waiting.wait_reason).not.toContain("is the host down");
    expect((await leaseEvents(drydock, pinned)).map((e) => e.type)).toContain("LeaseReacquiring");
    const bp = await drydock.database.db.selectFrom("blueprints").select("failing_targets").where("blueprint_id", "=", blueprintId).executeTakeFirstOrThrow();
    expect(bp.failing_targets).toEqual([expect.objectContaining({ target: a.name, code: "host_key_mismatch", failures: 1 })]);
    const attempts = (await resourcesOf(drydock, blueprintId)).filter((r) => r.attributes.host === a.name);
    expect(attempts).toHaveLength(1);

    const free = await request(blueprintId);
    await waitForLeaseStatus(drydock, free, ["active"]);
    expect(await hostOfLease(free)).toBe(b.name);

    // The operator pins the right key: the waiting lease is retried at once (not at its backoff)
    // and lands on its host. The update lands while the lease's next retry is still ahead: one
    // falling due at that moment is retried by its backoff anyway, which would not show the wake-up.
    await until("the pinned lease's next retry to be at least 500 ms away", async () => {
      const item = await drydock.database.db.selectFrom("work_items").select("run_at").where("stream_id", "=", `lease-${pinned}`).executeTakeFirst();
      return item && new Date(item.run_at).getTime() - Date.now() >= 500 ? item : undefined;
    });
    await updateBlueprint(drydock.commands, blueprintId, { config: config(a.fingerprint) }, actor);
    await waitForLeaseStatus(drydock, pinned, ["active"]);
    expect(await hostOfLease(pinned)).toBe(a.name);
    const history = await leaseEvents(drydock, pinned);
    const newestFirst = [...history].reverse();
    const acquiredAt = newestFirst.find((e) => e.type === "LeaseAcquired")!.recordedAt;
    const lastWait = newestFirst.find((e) => e.type === "LeaseWaiting" && e.recordedAt < acquiredAt)!;
    expect(acquiredAt.getTime()).toBeLessThan(new Date((lastWait.data as { retryAt: string }).retryAt).getTime());
    for (const id of [pinned, free]) await releaseLease(drydock.commands, id, actor);
    for (const id of [pinned, free]) await waitForLeaseStatus(drydock, id, ["destroyed"]);
  });

  it("breaks a host that goes down during a lease: acquired leases go back to pending, active ones are released with the reason", async () => {
    const ssh = await hosts("down");
    const [a, b] = ssh.hosts as [SshHost, SshHost];
    const blueprintId = await createBlueprint(
      drydock.commands,
      { name: "downs", kind: "static-hosts", config: poolConfig(ssh, [hostEntry(ssh, a, ssh.keyEnv, { slots: 2 }), hostEntry(ssh, b, ssh.keyEnv, { slots: 2 })]) },
      actor,
    );
    const active = await request(blueprintId, { host: a.name });
    await waitForLeaseStatus(drydock, active, ["active"]);
    const firstResource = (await leaseRow(drydock, active)).resource_id!;

    await a.stop();
    // Takes the second slot on the dead host; its activation cannot reach it: that counts against
    // the host at once (suspect, a health check now), and the lease goes back to pending.
    const acquired = await request(blueprintId, { host: a.name });
    await until("the second lease to be acquired on the dead host", async () =>
      (await leaseEvents(drydock, acquired)).some((e) => e.type === "LeaseAcquired" && (e.data as { resourceId: string }).resourceId === firstResource),
    );

    const released = await waitForLeaseStatus(drydock, active, ["released", "destroyed"]);
    expect(released.endReason).toMatch(/(health check|its host) failed 2 times in a row: cannot connect to down-a/);
    const releasedEvent = (await leaseEvents(drydock, active)).find((e) => e.type === "LeaseReleased")!;
    expect(releasedEvent.data).toMatchObject({ reason: "resource-ended" });
    expect((releasedEvent.data as { detail: string }).detail).toMatch(new RegExp(`resource ${firstResource} broken: (health check|its host) failed`));

    const back = await until("the acquired lease to go back to pending", async () => {
      const types = (await leaseEvents(drydock, acquired)).map((e) => e.type);
      return types.includes("LeaseReacquiring") ? types : undefined;
    });
    expect(back.indexOf("LeaseAcquired")).toBeLessThan(back.indexOf("LeaseReacquiring"));
    expect((await leaseRow(drydock, acquired)).status).toBe("pending");

    const elsewhere = await request(blueprintId);
    await waitForLeaseStatus(drydock, elsewhere, ["active"]);
    expect(await hostOfLease(elsewhere)).toBe(b.name);

    // The host comes back: its old resource is torn down, and the waiting lease lands there.
    await a.start();
    await waitForLeaseStatus(drydock, acquired, ["active"]);
    expect(await hostOfLease(acquired)).toBe(a.name);
    expect((await leaseRow(drydock, acquired)).resource_id).not.toBe(firstResource);
    for (const id of [acquired, elsewhere]) await releaseLease(drydock.commands, id, actor);
    for (const id of [active, acquired, elsewhere]) await waitForLeaseStatus(drydock, id, ["destroyed"]);
  });

  it("drains a host through the blueprint: no new leases, existing ones run out, then its resource is released", async () => {
    const ssh = await hosts("drain");
    const [a, b] = ssh.hosts as [SshHost, SshHost];
    const config = (drained: boolean, withB = true) =>
      poolConfig(ssh, [hostEntry(ssh, a, ssh.keyEnv, { drained, attributes: { os: "linux", labels: ["big"] } }), ...(withB ? [hostEntry(ssh, b, ssh.keyEnv, { attributes: { os: "linux" } })] : [])]);
    const blueprintId = await createBlueprint(drydock.commands, { name: "drains", kind: "static-hosts", config: config(false) }, actor);

    const running = await request(blueprintId, { labels: ["big"] });
    await waitForLeaseStatus(drydock, running, ["active"]);
    expect(await hostOfLease(running)).toBe(a.name);
    const resourceA = (await leaseRow(drydock, running)).resource_id!;

    await updateBlueprint(drydock.commands, blueprintId, { config: config(true) }, actor);
    const big = await request(blueprintId, { os: "linux", labels: ["big"] });
    const waiting = await until("the lease for the drained host to wait", async () => {
      const l = await leaseRow(drydock, big);
      return l.status === "pending" && l.wait_reason ? l : undefined;
    });
    expect(waiting.wait_reason).toContain(`${a.name} is drained`);
    const small = await request(blueprintId, { os: "linux" });
    await waitForLeaseStatus(drydock, small, ["active"]);
    expect(await hostOfLease(small)).toBe(b.name);

    // The running lease is untouched, and still works.
    const { command } = await drydock.interfaces.forLease(running);
    expect(await command.exec(["echo", "still here"])).toMatchObject({ exitCode: 0, stdout: "still here\n" });

    await releaseLease(drydock.commands, running, actor);
    const retired = await until("the drained host's resource to be released", async () => {
      const r = (await resourcesOf(drydock, blueprintId)).find((x) => x.resource_id === resourceA);
      return r?.status === "destroyed" ? r : undefined;
    });
    expect(retired.end_reason).toBe(`host ${a.name} is drained`);

    // Undrained, the waiting lease lands on it; removing host b retires b's resource once idle.
    await updateBlueprint(drydock.commands, blueprintId, { config: config(false, false) }, actor);
    await waitForLeaseStatus(drydock, big, ["active"]);
    expect(await hostOfLease(big)).toBe(a.name);
    const resourceB = (await leaseRow(drydock, small)).resource_id!;
    await releaseLease(drydock.commands, small, actor);
    const removed = await until("the removed host's resource to be released", async () => {
      const r = (await resourcesOf(drydock, blueprintId)).find((x) => x.resource_id === resourceB);
      return r?.status === "destroyed" ? r : undefined;
    });
    expect(removed.end_reason).toBe(`host ${b.name} was removed from the blueprint`);
    await releaseLease(drydock.commands, big, actor);
    await waitForLeaseStatus(drydock, big, ["destroyed"]);
    expect(unexpected).toEqual([]);
  });
});
