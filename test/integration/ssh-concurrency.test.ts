import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ResourceEventData } from "../../events/resource-events";
import { createBlueprint } from "../../src/commands/blueprint-commands";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { verifyLog } from "../../src/history/verify-log";
import type { Drydock } from "../../src/service/drydock";
import { startAllocatorInstances, type AllocatorInstances } from "../support/allocator-instances";
import { readWholeLog } from "../support/read-log";
import { hostEntry } from "../support/ssh-pool";
import { sshdAvailable, sshdMissingMessage, startSshHosts, type SshHosts } from "../support/sshd";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * 50 leases at once over 3 real sshd hosts with 4 slots each, served by two allocators on one
 * database (on PostgreSQL each with its own connection pool, as separate processes would). Every
 * lease runs a command on its host. The log must show no host over its 4 slots, never two live
 * resources on one host, every transition legal, and every lease served and cleaned up.
 */
if (!sshdAvailable) console.warn(`skipping the static-hosts concurrency test: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const LEASES = 50;
const SLOTS = 4;
const INSTANCES = 2;
const KEY_ENV = `DRYDOCK_TEST_BUSY_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;

let ssh: SshHosts;
const rootOf = (hosts: SshHosts) => `/tmp/drydock-ssh-busy-${hosts.hosts[0]!.port}`;
let database: TestDatabase;
let allocators: AllocatorInstances | undefined;
let instances: Drydock[] = [];
let errors: unknown[] = [];

beforeAll(async () => {
  if (!sshdAvailable) return;
  ssh = await startSshHosts(3, "busy");
  process.env[KEY_ENV] = ssh.clientKey;
  database = await createTestDatabase({ poolSize: 10 });
  allocators = await startAllocatorInstances(database, INSTANCES, { namePrefix: "ssh-allocator" });
  ({ instances, errors } = allocators);
});

afterAll(async () => {
  await allocators?.close();
  await database?.close();
  await ssh?.close();
  // The hosts are this machine: remove what the resources left under the pool's root.
  if (ssh) await rm(rootOf(ssh), { recursive: true, force: true });
  delete process.env[KEY_ENV];
});

describeSsh("many leases over a few SSH hosts", () => {
  it(`serves ${LEASES} concurrent leases on 3 hosts x ${SLOTS} slots, never more than ${SLOTS} on a host`, async () => {
    const actor = { actor: "ssh-load" };
    const blueprintId = await createBlueprint(
      instances[0]!.commands,
      { name: "busy", kind: "static-hosts", config: { hosts: ssh.hosts.map((h) => hostEntry(ssh, h, KEY_ENV, { slots: SLOTS })), root: rootOf(ssh) } },
      actor,
    );
    const leaseIds = await Promise.all(
      Array.from({ length: LEASES }, (_, i) => requestLease(instances[i % INSTANCES]!.commands, { resourceType: "host", blueprintIds: [blueprintId] }, `client-${i % 5}`, actor)),
    );
    const outputs = await Promise.all(
      leaseIds.map(async (id, i) => {
        const drydock = instances[(i + 1) % INSTANCES]!;
        await waitForLeaseStatus(drydock, id, ["active"], 60_000);
        const { command } = await drydock.interfaces.forLease(id);
        const result = await command.exec(["sh", "-c", 'echo "$0"; sleep 0.1', id]);
        await releaseLease(drydock.commands, id, actor);
        return result;
      }),
    );
    expect(outputs.map((r) => r.stdout)).toEqual(leaseIds.map((id) => `${id}\n`));
    await Promise.all(leaseIds.map((id, i) => waitForLeaseStatus(instances[i % INSTANCES]!, id, ["destroyed"], 60_000)));

    const log = await readWholeLog(instances[0]!.store);
    const report = verifyLog(log);
    expect(report.violations).toEqual([]);
    const peaks = Object.values(report.peakLeasesPerResource);
    expect(Math.max(...peaks)).toBeLessThanOrEqual(SLOTS);
    // The hosts were really shared up to their slots, not served one lease at a time.
    expect(Math.max(...peaks)).toBe(SLOTS);

    // One live resource per host at any moment, from the log alone.
    const hostOf = new Map<string, string>();
    const liveOnHost = new Map<string, number>();
    let peakPerHost = 0;
    for (const e of log) {
      if (e.type === "ResourceAllocated") {
        const host = (e.data as ResourceEventData<"ResourceAllocated">).attributes.host as string;
        hostOf.set(e.streamId, host);
        liveOnHost.set(host, (liveOnHost.get(host) ?? 0) + 1);
        peakPerHost = Math.max(peakPerHost, liveOnHost.get(host)!);
      } else if (e.type === "ResourceDestroyed") {
        const host = hostOf.get(e.streamId)!;
        liveOnHost.set(host, liveOnHost.get(host)! - 1);
      }
    }
    expect(peakPerHost).toBe(1);
    expect(new Set(hostOf.values())).toEqual(new Set(ssh.hosts.map((h) => h.name)));

    for (const id of leaseIds) {
      const types = log.filter((e) => e.streamId === `lease-${id}`).map((e) => e.type);
      expect(types.filter((t) => t === "LeaseActivated")).toHaveLength(1);
      expect(types.slice(-2)).toEqual(["LeaseReleased", "LeaseDestroyed"]);
    }
    expect(log.filter((e) => e.type === "LeaseDestroyed").every((e) => (e.data as { cleanupError: string | null }).cleanupError === null)).toBe(true);
    expect(errors).toEqual([]);
  });
});
