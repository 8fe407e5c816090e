import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LeaseEventData } from "../../events/lease-events";
import { LeaseCleanupError } from "../../src/blueprints/blueprint";
import { createBlueprint, updateBlueprint } from "../../src/commands/blueprint-commands";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { ValidationError } from "../../src/domain/errors";
import { COMMAND_MARKER, LEASE_MARKER } from "../../src/interfaces/marked-processes";
import { explainLeaseById } from "../../src/queries/lease-explain-query";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { commandOf, killMarked, markedPids } from "../support/marked-pids";
import { hostEntry, leaseEvents, leaseRow, until } from "../support/ssh-pool";
import { processAlive, sshdAvailable, sshdMissingMessage, startSshHosts, type SshHosts } from "../support/sshd";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * Every process a lease starts on an SSH host ends with the lease (issue 13): the lease's
 * commands carry DRYDOCK_LEASE=<lease>, its teardown kills whatever carries it (setsid and
 * background processes included) and names them in LeaseDestroyed; a command's timeout kills
 * what carries the command's own marker. The host is this machine, so the test reads /proc itself.
 */
if (!sshdAvailable) console.warn(`skipping the lease process tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const KEY_ENV = `DRYDOCK_TEST_SSH_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
const actor = { actor: "ssh-test" };
let database: TestDatabase;
let drydock: Drydock;
let ssh: SshHosts;
let blueprintId: string;
const leases: string[] = [];
const unexpected: unknown[] = [];
const rootOf = () => `/tmp/drydock-ssh-procs-${ssh.hosts[0]!.port}`;
const config = (extra: Record<string, unknown> = {}) => ({
  hosts: [hostEntry(ssh, ssh.hosts[0]!, KEY_ENV)],
  root: rootOf(),
  healthIntervalSeconds: 5,
  connectTimeoutSeconds: 3,
  ...extra,
});

beforeAll(async () => {
  if (!sshdAvailable) return;
  ssh = await startSshHosts(1, "procs");
  process.env[KEY_ENV] = ssh.clientKey;
  database = await createTestDatabase();
  // `half-clean`: a teardown that killed 150 processes, then failed to remove something.
  const halfClean = {
    ...memoryPoolBlueprint(),
    kind: "half-clean",
    async destroyLease() {
      const killedProcesses = Array.from({ length: 150 }, (_, i) => ({ pid: 1000 + i, command: `worker ${i} ${"x".repeat(300)}` }));
      throw new LeaseCleanupError("cannot remove /scratch/x: exit 1", { killedProcesses, killedProcessesOmitted: 3 });
    },
  };
  drydock = await createDrydock({ database, localHost: false, blueprints: [halfClean], onWorkerError: (error) => unexpected.push(error) });
  blueprintId = await createBlueprint(drydock.commands, { name: "procs", kind: "static-hosts", config: config() }, actor);
});

afterAll(async () => {
  // Whatever a failed case left behind must not outlive the test run.
  for (const id of leases) await killMarked(LEASE_MARKER, id);
  await drydock?.close();
  await database?.close();
  await ssh?.close();
  if (ssh) await rm(rootOf(), { recursive: true, force: true });
  delete process.env[KEY_ENV];
});

async function activeLease(): Promise<string> {
  const id = await requestLease(drydock.commands, { resourceType: "host", attributes: {}, blueprintIds: [blueprintId] }, "ssh-test", actor);
  leases.push(id);
  await waitForLeaseStatus(drydock, id, ["active"]);
  return id;
}

async function run(leaseId: string, argv: string[], options: { timeoutMs?: number } = {}) {
  const { command } = await drydock.interfaces.forLease(leaseId);
  return command.exec(argv, options);
}

/** The lease's processes running `sleep N`, by N, once all of `durations` are there. */
async function sleepsOf(leaseId: string, durations: number[]): Promise<Map<number, number>> {
  return until(`sleeps ${durations.join(", ")} of ${leaseId}`, async () => {
    const found = new Map<number, number>();
    for (const pid of await markedPids(LEASE_MARKER, leaseId)) {
      const m = /^sleep (\d+)$/.exec((await commandOf(pid)) ?? "");
      if (m) found.set(Number(m[1]), pid);
    }
    return durations.every((d) => found.has(d)) ? found : undefined;
  });
}

async function destroyed(leaseId: string): Promise<LeaseEventData<"LeaseDestroyed">> {
  await releaseLease(drydock.commands, leaseId, actor);
  await waitForLeaseStatus(drydock, leaseId, ["destroyed"]);
  return (await leaseEvents(drydock, leaseId)).find((e) => e.type === "LeaseDestroyed")!.data as LeaseEventData<"LeaseDestroyed">;
}

const byPid = (a: { pid: number }, b: { pid: number }) => a.pid - b.pid;

describeSsh("a lease's processes on an SSH host", () => {
  it("are marked with the lease, which no client can change, and run under maxProcesses", async () => {
    const lease = await activeLease();
    expect(await run(lease, ["printenv", LEASE_MARKER])).toMatchObject({ exitCode: 0, stdout: `${lease}\n` });
    expect((await run(lease, ["printenv", COMMAND_MARKER])).stdout).toMatch(/^[0-9a-f]{16}\n$/);
    const { command } = await drydock.interfaces.forLease(lease);
    for (const name of [LEASE_MARKER, COMMAND_MARKER]) {
      const refused = await command.exec(["true"], { env: { [name]: "ls_other" } }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ValidationError);
      expect((refused as ValidationError).details).toEqual({ field: "env" });
    }
    expect((await run(lease, ["cat", "/proc/self/limits"])).stdout).toMatch(/^Max processes +512 +512 +processes/m);

    // A lower limit applies to the next command; a limit below 8 is refused, naming the field.
    await updateBlueprint(drydock.commands, blueprintId, { config: config({ maxProcesses: 64 }) }, actor);
    expect((await run(lease, ["cat", "/proc/self/limits"])).stdout).toMatch(/^Max processes +64 +64 +processes/m);
    await expect(updateBlueprint(drydock.commands, blueprintId, { config: config({ maxProcesses: 0 }) }, actor)).rejects.toThrow(/^config\.maxProcesses: /);
    await updateBlueprint(drydock.commands, blueprintId, { config: config() }, actor);
    expect(await destroyed(lease)).toEqual({ cleanupError: null, killedProcesses: [] });
  });

  it("end with the lease: setsid and background processes are killed and named in LeaseDestroyed; another lease's survive", async () => {
    const mine = await activeLease();
    const other = await activeLease();
    // Both commands return at once, leaving their sleep running outside the command's process group or in it.
    expect(await run(mine, ["sh", "-c", "setsid -f sleep 1000 >/dev/null 2>&1 </dev/null"])).toMatchObject({ exitCode: 0 });
    expect(await run(mine, ["sh", "-c", "sleep 1001 >/dev/null 2>&1 </dev/null &"])).toMatchObject({ exitCode: 0 });
    expect(await run(other, ["sh", "-c", "setsid -f sleep 1002 >/dev/null 2>&1 </dev/null"])).toMatchObject({ exitCode: 0 });
    const left = await sleepsOf(mine, [1000, 1001]);
    const others = await sleepsOf(other, [1002]);

    const event = await destroyed(mine);
    expect(event.cleanupError).toBeNull();
    expect([...event.killedProcesses!].sort(byPid)).toEqual(
      [
        { pid: left.get(1000)!, command: "sleep" },
        { pid: left.get(1001)!, command: "sleep" },
      ].sort(byPid),
    );
    expect(await markedPids(LEASE_MARKER, mine)).toEqual([]);
    for (const pid of left.values()) expect(await processAlive(pid)).toBe(false);
    // Only the destroyed lease's marker was swept.
    expect(await processAlive(others.get(1002)!)).toBe(true);
    expect(await run(other, ["true"])).toMatchObject({ exitCode: 0 });

    const explained = await explainLeaseById(drydock.store, mine, new Date());
    expect(explained.timeline.at(-1)!.title).toMatch(/^destroyed, killed 2 processes it left running: \d+ sleep, \d+ sleep$/);

    const otherEvent = await destroyed(other);
    expect(otherEvent).toEqual({ cleanupError: null, killedProcesses: [{ pid: others.get(1002)!, command: "sleep" }] });
    expect(await processAlive(others.get(1002)!)).toBe(false);
    expect(unexpected).toEqual([]);
  });

  it("a command's timeout also kills what it started with setsid, and only that command's processes", async () => {
    const lease = await activeLease();
    // A process an earlier command of the lease left running: not the timed-out command's.
    expect(await run(lease, ["sh", "-c", "setsid -f sleep 1003 >/dev/null 2>&1 </dev/null"])).toMatchObject({ exitCode: 0 });
    const earlier = (await sleepsOf(lease, [1003])).get(1003)!;

    // The setsid'd sleep leaves the process group but holds the output open: without its marker
    // it would outlive the timeout and keep the command's channel open.
    const result = await run(lease, ["sh", "-c", "setsid -f sh -c 'echo $$ > escaped.pid; exec sleep 1004'; sleep 1005"], { timeoutMs: 1000 });
    expect(result).toMatchObject({ timedOut: true, exitCode: null });
    const dir = (await leaseRow(drydock, lease)).working_directory!;
    const escaped = Number(await readFile(path.join(dir, "escaped.pid"), "utf8"));
    expect(escaped).toBeGreaterThan(1);
    await until("the setsid'd sleep of the timed-out command to be gone", async () => !(await processAlive(escaped)));
    expect(await processAlive(earlier)).toBe(true);

    expect((await destroyed(lease)).killedProcesses).toEqual([{ pid: earlier, command: "sleep" }]);
  });

  it("a teardown that killed processes and then failed keeps both in LeaseDestroyed, the list bounded", async () => {
    const pool = await createBlueprint(drydock.commands, { name: "half-clean", kind: "half-clean", config: {} }, actor);
    const id = await requestLease(drydock.commands, { resourceType: "sandbox", attributes: {}, blueprintIds: [pool] }, "ssh-test", actor);
    await waitForLeaseStatus(drydock, id, ["active"]);
    const event = await destroyed(id);
    expect(event.cleanupError).toBe("cannot remove /scratch/x: exit 1");
    expect(event.killedProcesses).toHaveLength(100);
    expect(event.killedProcesses![0]).toEqual({ pid: 1000, command: `worker 0 ${"x".repeat(191)}` });
    expect(event.killedProcessesOmitted).toBe(53);
    const explained = await explainLeaseById(drydock.store, id, new Date());
    expect(explained.timeline.at(-1)!.title).toMatch(/^destroyed, killed 153 processes it left running: 1000 worker 0 x+, 1001 worker 1 x+, 1002 worker 2 x+ and 150 more \(cleanup failed: cannot remove \/scratch\/x: exit 1\)$/);
  });
});
