import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseActivations } from "../../src/allocator/lease-activations";
import { LeaseLeftoverSweep } from "../../src/allocator/lease-leftover-sweep";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import type { Clock } from "../../src/domain/clock";
import { probeSandboxHost, type SandboxHost } from "../../src/sandbox/sandbox-host";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";
import { waitUntil } from "../support/wait-until";

/**
 * The leftover sweep on a real local host: directories (and a cgroup, with a process in it) that
 * no live lease owns are removed, and nothing a lease may still use is touched. Leftovers come
 * from a process that stopped between an inline activation's mkdir and its commit (the lease was
 * never stored) and from a teardown whose removal failed (the lease is destroyed): made here as
 * those leave them. The grace period is crossed with a clock ahead of the machine's, since a
 * directory's ctime cannot be set back.
 */
const GRACE_MS = 10 * 60_000;
const ahead: Clock = { now: () => new Date(Date.now() + GRACE_MS + 60_000) };
const admin = { actor: "operator" };

let database: TestDatabase;
let drydock: Drydock;
let root: string;
let host: SandboxHost;
const strays: ChildProcess[] = [];
/** Cgroups this file made, removed after (the machine's cgroup root is every test file's). */
const cgroups: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-leftovers-"));
  host = await probeSandboxHost();
  drydock = await createDrydock({ database, localHost: { root, slots: 4 }, leaseLeftovers: false });
});
afterAll(async () => {
  for (const child of strays) child.kill("SIGKILL");
  await Promise.all(strays.map((child) => (child.exitCode === null && child.signalCode === null ? new Promise((resolve) => child.once("exit", resolve)) : null)));
  // Gone already where the sweep removed it.
  for (const cgroup of cgroups) await rmdir(cgroup).catch(() => undefined);
  await drydock?.close();
  await database?.close();
  await rm(root, { recursive: true, force: true });
});

/** An active admin lease on the local host, and its resource's root. */
async function activeLease(): Promise<{ leaseId: string; dir: string; resourceRoot: string }> {
  const leaseId = await requestLease(drydock.commands, { resourceType: "host" }, "operator", admin);
  const lease = await waitForLeaseStatus(drydock, leaseId, ["active"]);
  const resourceRoot = path.join(root, lease.resourceId!);
  return { leaseId, dir: path.join(resourceRoot, "leases", leaseId), resourceRoot };
}

/** What an activation leaves of a lease: its directory with a file, its /tmp, and (where the machine has one) its cgroup with a process in it. */
async function leftoverOf(resourceRoot: string, leaseId: string): Promise<{ paths: string[]; cgroup: string | null; stray: ChildProcess | null }> {
  const paths = [path.join(resourceRoot, "leases", leaseId), path.join(resourceRoot, "tmp", leaseId)];
  for (const p of paths) await mkdir(p, { recursive: true });
  await writeFile(path.join(paths[0]!, "build.log"), "half a build\n");
  if (host.cgroupRoot === null) return { paths, cgroup: null, stray: null };
  const cgroup = path.join(host.cgroupRoot, leaseId);
  await mkdir(cgroup);
  cgroups.push(cgroup);
  const stray = spawn("sleep", ["517"], { stdio: "ignore" });
  strays.push(stray);
  await new Promise<void>((resolve, reject) => stray.once("spawn", resolve).once("error", reject));
  await writeFile(path.join(cgroup, "cgroup.procs"), String(stray.pid));
  return { paths, cgroup, stray };
}

/** Releases the lease and waits until its teardown is stored. */
async function ended(leaseId: string): Promise<void> {
  await releaseLease(drydock.commands, leaseId, admin);
  await waitForLeaseStatus(drydock, leaseId, ["destroyed"]);
}

/** A live lease, and beside it on its resource what an activation left of a lease the log never stored. */
async function ghostBesideLiveLease() {
  const live = await activeLease();
  const ghost = ghostId();
  return { live, ghost, left: await leftoverOf(live.resourceRoot, ghost) };
}

/** A lease that ran on the local host and is destroyed, and its resource's root. */
async function destroyedLease(): Promise<{ leaseId: string; resourceRoot: string }> {
  const { leaseId, resourceRoot } = await activeLease();
  await ended(leaseId);
  return { leaseId, resourceRoot };
}

const ghostId = () => `ls_ghost${randomBytes(5).toString("hex")}`;
const sweepWith = (clock: Clock, activations = new LeaseActivations()) => new LeaseLeftoverSweep({ db: database.db, registry: drydock.registry, clock, leaseActivations: activations }, GRACE_MS);

describe(`the leftover sweep on the local host (${testDialect})`, () => {
  it("removes a lease the log never stored, processes first, once the grace period is over, and leaves a live lease's directory alone", async () => {
    const { live, ghost, left } = await ghostBesideLiveLease();
    await writeFile(path.join(live.dir, "keep.txt"), "mine\n");

    // Within the grace period: named, kept (its lease may be about to be stored).
    const early = await sweepWith(drydock.clock).pass();
    expect(early.removed).toEqual([]);
    expect(early.young.map((y) => [y.leaseId, y.reason])).toEqual([[ghost, "its lease is unknown to the log"]]);
    for (const p of left.paths) expect(existsSync(p), p).toBe(true);

    const exited = left.stray ? new Promise((resolve) => left.stray!.once("exit", (_code, signal) => resolve(signal))) : null;
    const report = await sweepWith(ahead).pass();
    expect(report.failures).toEqual([]);
    expect(report.removed.map((r) => ({ leaseId: r.leaseId, reason: r.reason, killed: r.killedProcesses }))).toEqual([
      { leaseId: ghost, reason: "its lease is unknown to the log", killed: left.stray ? ["sleep"] : [] },
    ]);
    for (const p of left.paths) expect(existsSync(p), p).toBe(false);
    if (left.cgroup) expect(existsSync(left.cgroup)).toBe(false);
    if (exited) expect(await exited).toBe("SIGKILL");

    // The live lease is as it was, and still runs its commands in its directory.
    expect(existsSync(path.join(live.dir, "keep.txt"))).toBe(true);
    const { command } = await drydock.interfaces.forLease(live.leaseId);
    expect(await command.exec(["cat", "keep.txt"])).toMatchObject({ exitCode: 0, stdout: "mine\n" });
    await ended(live.leaseId);
  });

  it("removes what a destroyed lease's failed teardown left", async () => {
    const { leaseId, resourceRoot } = await destroyedLease();
    // As a removal that failed leaves it.
    const left = await leftoverOf(resourceRoot, leaseId);

    const report = await sweepWith(ahead).pass();
    expect(report.removed.map((r) => [r.leaseId, r.reason])).toEqual([[leaseId, "its lease is destroyed"]]);
    for (const p of left.paths) expect(existsSync(p), p).toBe(false);
  });

  it("ends a destroyed lease's process that outlived its teardown, found only in its cgroup, and leaves another service's cgroup alone", async (ctx) => {
    if (host.cgroupRoot === null) return ctx.skip(`no pids cgroup here: ${host.unavailable ?? "no cgroup root"}`);
    const { leaseId, resourceRoot } = await destroyedLease();
    // As a teardown leaves it when a process escaped its kill rounds: directories gone, the cgroup held.
    const ours = await leftoverOf(resourceRoot, leaseId);
    for (const p of ours.paths) await rm(p, { recursive: true });
    // A lease id this log does not know: another Drydock's on this machine.
    const theirs = await leftoverOf(resourceRoot, ghostId());
    for (const p of theirs.paths) await rm(p, { recursive: true });
    const exited = new Promise((resolve) => ours.stray!.once("exit", (_code, signal) => resolve(signal)));

    const report = await sweepWith(ahead).pass();
    expect(report.removed.map((r) => ({ leaseId: r.leaseId, reason: r.reason, killed: r.killedProcesses }))).toEqual([{ leaseId, reason: "its lease is destroyed", killed: ["sleep"] }]);
    expect(await exited).toBe("SIGKILL");
    expect(existsSync(ours.cgroup!)).toBe(false);
    expect(existsSync(theirs.cgroup!)).toBe(true);
    expect(theirs.stray!.exitCode === null && theirs.stray!.signalCode === null).toBe(true);
  });

  it("keeps a lease's directories while this process is activating it, and removes them on a later pass", async () => {
    const { live, ghost, left } = await ghostBesideLiveLease();
    const activations = new LeaseActivations();
    const release = activations.tryHold(ghost)!;

    const held = await sweepWith(ahead, activations).pass();
    expect(held.removed).toEqual([]);
    expect(held.young.map((y) => y.leaseId)).toEqual([ghost]);
    for (const p of left.paths) expect(existsSync(p), p).toBe(true);

    release();
    expect((await sweepWith(ahead, activations).pass()).removed.map((r) => r.leaseId)).toEqual([ghost]);
    await ended(live.leaseId);
  });

  it("a dry run says what a pass would remove and removes nothing", async () => {
    const { live, ghost, left } = await ghostBesideLiveLease();

    const dry = await sweepWith(ahead).pass({ dryRun: true });
    expect(dry.removed.map((r) => [r.leaseId, r.reason])).toEqual([[ghost, "its lease is unknown to the log"]]);
    for (const p of left.paths) expect(existsSync(p), p).toBe(true);
    if (left.stray) expect(left.stray.exitCode === null && left.stray.signalCode === null).toBe(true);

    await sweepWith(ahead).pass();
    for (const p of left.paths) expect(existsSync(p), p).toBe(false);
    await ended(live.leaseId);
  });

  it("a service that starts finds what a stopped one left, without waiting an interval, and counts it", async () => {
    const { live, ghost, left } = await ghostBesideLiveLease();

    // A second service process on the same database and machine, its clock past the grace period.
    const restarted = await createDrydock({ database, localHost: { root, slots: 4 }, clock: ahead, leaseLeftovers: { intervalMs: 3_600_000 } });
    try {
      await waitUntil("the new service's first sweep removes the leftover", () => left.paths.every((p) => !existsSync(p)), 20_000);
      await waitUntil("the removal is counted", async () => (await restarted.metrics.registry.getSingleMetricAsString("drydock_lease_leftovers_removed_total")).includes("drydock_lease_leftovers_removed_total 1"), 5_000);
    } finally {
      await restarted.close();
    }
    await ended(live.leaseId);
  });
});
