import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalSandbox } from "../../src/sandbox/local-sandbox";
import { probeSandboxHost, type SandboxHost } from "../../src/sandbox/sandbox-host";

/**
 * Ending a lease's processes through its pids cgroup (LocalSandbox.killAll), with the sandbox as
 * the service makes it on this machine. The cgroup is what finds a process that this service
 * process did not start (another Drydock process on the machine ran the command): a teardown
 * must end it and name it, and remove the cgroup. A lease that never ran anything has an empty
 * cgroup, which goes without a process named. Needs root and a pids cgroup, as the service's
 * sandbox does (CI runs as root); elsewhere the cases are skipped and say why.
 */
let host: SandboxHost;
let base: string;
const settings = { network: false, maxProcesses: 64, hidden: [] };
const started: ChildProcess[] = [];

beforeAll(async () => {
  host = await probeSandboxHost();
  base = await mkdtemp(path.join(tmpdir(), "drydock-cgroup-"));
});
afterAll(async () => {
  for (const child of started) child.kill("SIGKILL");
  await rm(base, { recursive: true, force: true });
});

/** A lease's directories and cgroup, made as activation makes them; the cgroup's path. */
async function preparedLease(sandbox: LocalSandbox, leaseId: string): Promise<string> {
  await sandbox.prepare(path.join(base, "leases", leaseId), path.join(base, "tmp", leaseId), leaseId, settings);
  return path.join(host.cgroupRoot!, leaseId);
}

/** A process in the lease's cgroup that `sandbox` did not start (as another service process's command would be). */
async function strayProcess(cgroup: string): Promise<ChildProcess> {
  const child = spawn("sleep", ["347"], { stdio: "ignore" });
  started.push(child);
  await new Promise<void>((resolve, reject) => child.once("spawn", resolve).once("error", reject));
  await writeFile(path.join(cgroup, "cgroup.procs"), String(child.pid));
  return child;
}

describe("ending a lease's processes through its cgroup", () => {
  it("ends and names a process this service process did not start, and removes the cgroup", async (ctx) => {
    if (host.unavailable !== null || host.cgroupRoot === null) return ctx.skip(`no sandbox with a pids cgroup here: ${host.unavailable ?? "no cgroup root"}`);
    const sandbox = new LocalSandbox(host);
    const cgroup = await preparedLease(sandbox, "ls_cgroup_stray");
    expect(await readFile(path.join(cgroup, "pids.max"), "utf8")).toBe("64\n");
    const child = await strayProcess(cgroup);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));

    // A sandbox of its own, as another service process's: it tracks no command of this lease.
    const killed = await new LocalSandbox(host).killAll("ls_cgroup_stray");

    expect(killed).toEqual([{ pid: child.pid, command: "sleep" }]);
    expect(await exited).toBe("SIGKILL");
    expect(existsSync(cgroup)).toBe(false);
    await sandbox.close();
  });

  it("removes an empty cgroup at once and names no process; a cgroup never made is no error", async (ctx) => {
    if (host.unavailable !== null || host.cgroupRoot === null) return ctx.skip(`no sandbox with a pids cgroup here: ${host.unavailable ?? "no cgroup root"}`);
    const sandbox = new LocalSandbox(host);
    const cgroup = await preparedLease(sandbox, "ls_cgroup_empty");
    // A process that ran in it and ended leaves it empty again.
    const child = await strayProcess(cgroup);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));

    expect(await sandbox.killAll("ls_cgroup_empty")).toEqual([]);
    expect(existsSync(cgroup)).toBe(false);
    expect(await sandbox.killAll("ls_cgroup_never_made")).toEqual([]);
    await sandbox.close();
  });

  it("makes a lease's directories where their parents are missing, and keeps ones already there", async (ctx) => {
    if (host.unavailable !== null || host.cgroupRoot === null) return ctx.skip(`no sandbox with a pids cgroup here: ${host.unavailable ?? "no cgroup root"}`);
    const sandbox = new LocalSandbox(host);
    const leaseDir = path.join(base, "fresh", "leases", "ls_cgroup_dirs");
    const tmpDir = path.join(base, "fresh", "tmp", "ls_cgroup_dirs");
    await sandbox.prepare(leaseDir, tmpDir, "ls_cgroup_dirs", settings);
    await writeFile(path.join(leaseDir, "kept"), "x");
    // Prepared again (a retried activation): what is there stays.
    await sandbox.prepare(leaseDir, tmpDir, "ls_cgroup_dirs", settings);
    expect(await readFile(path.join(leaseDir, "kept"), "utf8")).toBe("x");
    for (const dir of [leaseDir, tmpDir]) expect((await stat(dir)).mode & 0o777).toBe(0o700);
    // A file where a lease's directory belongs is refused, as a recursive mkdir refuses it.
    const blocked = path.join(base, "fresh", "leases", "ls_cgroup_file");
    await writeFile(blocked, "not a directory");
    await expect(sandbox.prepare(blocked, path.join(base, "fresh", "tmp", "ls_cgroup_file"), "ls_cgroup_file", settings)).rejects.toMatchObject({ code: "EEXIST" });
    expect(await sandbox.killAll("ls_cgroup_dirs")).toEqual([]);
    await sandbox.close();
  });
});
