import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeSandboxHost, type SandboxHost } from "../../src/sandbox/sandbox-host";
import { startApi } from "../e2e/api-harness";

/**
 * A test database dropped while its leases live takes their per-lease cgroups with it
 * (test/support/lease-cgroups.ts): the service keeps a live lease's cgroup, as it must across
 * its own restarts, so every suite run left a few dozen empty cgroups under
 * /sys/fs/cgroup/pids/drydock for good (a lease's own processes end with each command, so a
 * process found there is another service process's). A cgroup whose name this database does not hold (a
 * running service's, another test file's) stays. Needs root and a pids cgroup, as the service's
 * sandbox does (CI runs as root); elsewhere the case is skipped and says why.
 */
let host: SandboxHost;
const others: string[] = [];
const strays: ChildProcess[] = [];

beforeAll(async () => {
  host = await probeSandboxHost();
});
afterAll(() => {
  for (const stray of strays) stray.kill("SIGKILL");
  for (const dir of others) if (existsSync(dir)) rmdirSync(dir);
});

describe("closing a test database with a live local lease", () => {
  it("removes the lease's cgroup and ends what it still held; leaves a cgroup of a lease it does not hold", async (ctx) => {
    if (host.unavailable !== null || host.cgroupRoot === null) return ctx.skip(`no sandbox with a pids cgroup here: ${host.unavailable ?? "no cgroup root"}`);
    const api = await startApi();
    const client = await api.client("left-behind");
    const lease = await client.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
    expect(lease.status, lease.text).toBe(201);
    const ran = await client.call("POST", `/v1/leases/${lease.body.id}/commands`, { argv: ["true"] });
    expect(ran.body.exitCode, ran.text).toBe(0);
    const cgroup = path.join(host.cgroupRoot, lease.body.id);
    expect(existsSync(cgroup)).toBe(true);
    // A process in the lease's cgroup when the database goes (as another service process's
    // command would be, still running).
    const stray = spawn("sleep", ["347"], { stdio: "ignore" });
    strays.push(stray);
    await new Promise<void>((resolve, reject) => stray.once("spawn", resolve).once("error", reject));
    writeFileSync(path.join(cgroup, "cgroup.procs"), String(stray.pid));
    const ended = new Promise<NodeJS.Signals | null>((resolve) => stray.once("exit", (_code, signal) => resolve(signal)));
    const other = path.join(host.cgroupRoot, `ls_not_this_database_${process.pid}`);
    mkdirSync(other);
    others.push(other);

    await api.close();

    expect(existsSync(cgroup)).toBe(false);
    expect(await ended).toBe("SIGKILL");
    expect(existsSync(other)).toBe(true);
  });
});
