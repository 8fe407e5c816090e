/**
 * Sandboxes of the local host's leases: where each lease's files live, how its processes are
 * started, and how every one of them is ended with the lease.
 *
 * Layout, per resource root R (owned by the service, not writable by the lease user):
 *   R/leases/<lease>   the lease's directory, owned by the lease user, mode 0700
 *   R/tmp/<lease>      its /tmp inside the sandbox
 *   R/trash/           an ended lease's directories, moved out of the way until the reaper has removed them
 *   <cgroup root>/<lease>   its pids cgroup (pids.max), when the machine has one
 *
 * Every process of a lease runs in a PID namespace of its own command (see sandbox-argv.ts), so
 * ending a command's outer bwrap ends all it started. The cgroup is the second line: it caps the
 * number of processes and lets destroy() find any process of the lease, even one started by
 * another Drydock process on this machine.
 */
import type { ChildProcess } from "node:child_process";
import { chmodSync, chownSync, constants, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { open, readFile, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { InterfaceUnavailableError } from "../domain/errors";
import { DirectoryReaper } from "./directory-reaper";
import { KeptHelpers } from "./kept-helpers";
import { sandboxArgv } from "./sandbox-argv";
import type { KilledProcess } from "../interfaces/marked-processes";
import type { SandboxHost } from "./sandbox-host";

/** movedToTrash found nothing to move. */
const GONE = Symbol("gone");

export interface LeaseSandboxSettings {
  network: boolean;
  maxProcesses: number;
  /** Paths never shown inside a sandbox (the service's home, its database). */
  hidden: readonly string[];
}

export interface LeaseSandboxLease {
  leaseId: string;
  leaseDir: string;
  tmpDir: string;
  settings: LeaseSandboxSettings;
}

export interface SandboxLaunch {
  argv: string[];
  /** The child's descriptors from fd 3 on. */
  stdio: (number | "pipe")[];
  close(): Promise<void>;
}

export const FILE_HELPER = fileURLToPath(new URL("./file-helper.mjs", import.meta.url));

/** A lease's kept file helper that has served nothing for this long ends (lease-file-server.ts). */
const KEPT_HELPER_IDLE_MS = 10_000;

/** After SIGKILL to a lease's cgroup, how many times to look again for processes forked meanwhile. */
const KILL_ROUNDS = 20;

export class LocalSandbox {
  /** Commands running now, by lease: ended together when the lease is destroyed. */
  private readonly running = new Map<string, Set<ChildProcess>>();
  private readonly reaper = new DirectoryReaper();
  /** Trash directories made (or found) by this process, their leftovers sent to the reaper. */
  private readonly trashes = new Set<string>();
  private trashed = 0;
  /** Each lease's kept file helper (lease-file-server.ts). */
  readonly kept = new KeptHelpers();

  /** How long a lease's kept file helper waits for its next request before it ends. */
  readonly keptHelperIdleMs: number;

  constructor(
    readonly host: SandboxHost,
    options: { keptHelperIdleMs?: number } = {},
  ) {
    this.keptHelperIdleMs = options.keptHelperIdleMs ?? KEPT_HELPER_IDLE_MS;
  }

  get available(): boolean {
    return this.host.unavailable === null;
  }

  /**
   * Creates the lease's directory and /tmp owned by the lease user, and its cgroup.
   *
   * Synchronously: these are a few metadata calls on two directories of the local host's root
   * (and on cgroupfs, the kernel's own, in memory), each a few microseconds. Done through the
   * thread pool, each cost the service's thread about ten times that in the hand-over alone, and
   * they were about a sixth of a lease cycle's CPU under load. readPids and the renames into the
   * trash go the same way; the removal itself is the reaper's (removeDirectories).
   */
  async prepare(leaseDir: string, tmpDir: string, leaseId: string, settings: LeaseSandboxSettings): Promise<void> {
    for (const dir of [leaseDir, tmpDir]) {
      makeDirectory(dir, 0o700);
      if (this.host.user) chownSync(dir, this.host.user.uid, this.host.user.gid);
      // mkdir leaves a directory that was there already as it was.
      chmodSync(dir, 0o700);
    }
    const cgroup = this.cgroupDir(leaseId);
    if (cgroup) {
      makeDirectory(cgroup);
      writeFileSync(path.join(cgroup, "pids.max"), String(settings.maxProcesses));
    }
  }

  /**
   * How to start `argv` in this lease's sandbox: the argv, and the descriptors the child gets
   * from fd 3 on (the lease directory, its /tmp, then one pipe per data file, which the caller
   * writes the file's bytes to). The directories are opened here without following symlinks
   * and must belong to the lease user, so a directory swapped for a symlink is refused instead
   * of bound. `close` must be called once the child has started.
   */
  async launch(lease: LeaseSandboxLease, cwd: string, argv: readonly string[], dataFiles: readonly string[] = []): Promise<SandboxLaunch> {
    if (!this.available) throw new InterfaceUnavailableError(`the lease sandbox is unavailable: ${this.host.unavailable}`);
    const dirs = [await this.openOwnedDirectory(lease.leaseDir)];
    try {
      dirs.push(await this.openOwnedDirectory(lease.tmpDir));
    } catch (error) {
      await dirs[0]!.close();
      throw error;
    }
    const launched = sandboxArgv({
      leaseDir: lease.leaseDir,
      leaseDirFd: 3,
      tmpDirFd: 4,
      dataFiles: dataFiles.map((dest, i) => ({ fd: 5 + i, dest })),
      cwd,
      readOnlyPaths: this.host.readOnlyPaths,
      hidden: lease.settings.hidden,
      readOnlyFiles: [process.execPath],
      network: lease.settings.network,
      user: this.host.user,
      cgroupDir: this.cgroupDir(lease.leaseId),
      argv,
    });
    return {
      argv: launched,
      stdio: [dirs[0]!.fd, dirs[1]!.fd, ...dataFiles.map(() => "pipe" as const)],
      close: async () => {
        for (const dir of dirs) await dir.close().catch(() => undefined);
      },
    };
  }

  track(leaseId: string, child: ChildProcess): () => void {
    let set = this.running.get(leaseId);
    if (!set) this.running.set(leaseId, (set = new Set()));
    set.add(child);
    return () => {
      set.delete(child);
      if (set.size === 0 && this.running.get(leaseId) === set) this.running.delete(leaseId);
    };
  }

  /**
   * Ends every process of the lease, then removes its cgroup. Returns what was still running:
   * the commands this process started, and whatever else the lease's cgroup held.
   */
  async killAll(leaseId: string): Promise<KilledProcess[]> {
    const cgroup = this.cgroupDir(leaseId);
    // The service's own helper first: it is not among what the lease left running. Its processes
    // in the sandbox may outlive its outer one by a moment, so they are named before it stops
    // (while they are still its children) and left out of what is reported.
    const helper = await this.kept.take(leaseId);
    const helperPids = helper?.pid !== undefined && cgroup !== null ? familyIn(readPids(cgroup), helper.pid) : new Set<number>();
    await helper?.stop();
    const killed = new Map<number, KilledProcess>();
    // The kernel refuses to remove a cgroup that holds a process, and once it is removed no
    // process can join it: a removal that succeeds (or finds none) proves the lease has no
    // process there, in one call where reading its members before and after took two. Only the
    // commands this process started outside it (an admin's lease has no cgroup) are left.
    const held = cgroup !== null && !removedCgroup(cgroup) ? cgroup : null;
    // Named before the kill, while /proc still has their command lines.
    const members = held ? readPids(held).filter((pid) => !helperPids.has(pid)) : [];
    for (const pid of members) killed.set(pid, { pid, command: await commandLineOf(pid) });
    for (const child of this.running.get(leaseId) ?? []) {
      if (child.pid === undefined || child.exitCode !== null) continue;
      if (!killed.has(child.pid)) killed.set(child.pid, { pid: child.pid, command: await commandLineOf(child.pid) });
      killQuietly(-child.pid);
    }
    this.running.delete(leaseId);
    if (!held) return [...killed.values()];
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const pids = readPids(held);
      if (pids.length === 0) break;
      for (const pid of pids) {
        if (!killed.has(pid) && !helperPids.has(pid)) killed.set(pid, { pid, command: await commandLineOf(pid) });
        killQuietly(pid);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // Not removed: a process the kill rounds did not see still holds it; nothing to add.
    removedCgroup(held);
    return [...killed.values()];
  }

  /**
   * The lease's use of its pids cgroup now: tasks (processes and their threads) and the most it
   * may have; null without a cgroup or without a limit.
   */
  processRoom(leaseId: string): { tasks: number; max: number } | null {
    const cgroup = this.cgroupDir(leaseId);
    if (!cgroup) return null;
    try {
      const max = Number(readFileSync(path.join(cgroup, "pids.max"), "utf8").trim());
      const tasks = Number(readFileSync(path.join(cgroup, "pids.current"), "utf8").trim());
      return Number.isFinite(max) && Number.isFinite(tasks) ? { tasks, max } : null;
    } catch {
      return null;
    }
  }

  /** Processes the lease has now (its cgroup's members), or null without a cgroup. */
  async processCount(leaseId: string): Promise<number | null> {
    const cgroup = this.cgroupDir(leaseId);
    return cgroup ? readPids(cgroup).length : null;
  }

  /**
   * Removes a lease's directories, once every process that could use them is gone (killAll ran
   * first, so none can swap a symlink in either). With a `trash` directory (R/trash), each is
   * renamed into it, one metadata call, and the reaper's thread removes it from there: its path
   * is gone when this returns, and the service's thread does not wait for the filesystem. Without
   * one, or where the rename fails, it is removed here. A symlink in a directory's place is
   * moved or removed itself, never followed (rename and rm act on the link).
   */
  async removeDirectories(trash: string | null, ...dirs: string[]): Promise<void> {
    const moved: string[] = [];
    for (const dir of dirs) {
      const inTrash = trash === null ? null : this.movedToTrash(trash, dir);
      if (inTrash === GONE) continue;
      if (inTrash === null) await rm(dir, { recursive: true, force: true });
      else moved.push(inTrash);
    }
    // One message to the reaper for the lease's directories.
    this.reaper.remove(...moved);
  }

  /** Ends the kept helpers, waits for the reaper's removals, then stops its thread. */
  async close(): Promise<void> {
    await this.kept.stopAll();
    await this.reaper.close();
  }

  /**
   * Where `dir` went in the trash, for the reaper to remove; GONE: there was nothing to move (an
   * admin's lease has no /tmp of its own); null: it could not be moved, to be removed in place.
   */
  private movedToTrash(trash: string, dir: string): string | typeof GONE | null {
    try {
      if (!this.trashes.has(trash)) {
        mkdirSync(trash, { recursive: true, mode: 0o700 });
        // What an earlier process moved there and did not see removed.
        this.reaper.remove(...readdirSync(trash).map((left) => path.join(trash, left)));
        this.trashes.add(trash);
      }
      const moved = path.join(trash, `${path.basename(path.dirname(dir))}-${path.basename(dir)}-${process.pid}-${++this.trashed}`);
      renameSync(dir, moved);
      return moved;
    } catch (error) {
      // Nothing there: not even a symlink (lstat does not follow one), so nothing to remove.
      if ((error as NodeJS.ErrnoException).code === "ENOENT" && lstatSync(dir, { throwIfNoEntry: false }) === undefined) return GONE;
      // The trash cannot take it: removed here instead.
      return null;
    }
  }

  private cgroupDir(leaseId: string): string | null {
    return this.host.cgroupRoot ? path.join(this.host.cgroupRoot, leaseId) : null;
  }

  private async openOwnedDirectory(dir: string): Promise<FileHandle> {
    let handle: FileHandle;
    try {
      handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (error) {
      throw new InterfaceUnavailableError(`the lease's directory is gone or was replaced: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
    const info = await handle.stat();
    const uid = this.host.user?.uid ?? process.getuid?.();
    if (!info.isDirectory() || (uid !== undefined && info.uid !== uid)) {
      await handle.close();
      throw new InterfaceUnavailableError("the lease's directory does not belong to the lease's user");
    }
    return handle;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // ESRCH: gone already.
  }
}

/** Of `pids`, `root` and those whose parent, or its parent and so on, is `root` (from /proc, in memory). */
function familyIn(pids: readonly number[], root: number): Set<number> {
  const parentOf = new Map<number, number>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // After the command's name, which may hold spaces and parentheses: state, then the parent's pid.
      parentOf.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // exited meanwhile
    }
  }
  const family = new Set<number>([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of parentOf) {
      if (!family.has(pid) && family.has(parent)) {
        family.add(pid);
        grew = true;
      }
    }
  }
  return family;
}

/** The program's name as the kernel keeps it (`comm`): never its arguments, which may hold secrets. */
async function commandLineOf(pid: number): Promise<string> {
  const raw = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "");
  return raw.trim().slice(0, 64);
}

/**
 * Makes a directory, and its parents only when they are missing: a recursive mkdir looks at the
 * path before making it, about twice the cost of one mkdir, and a lease's parents are there from
 * its resource's first lease on. One that is there already is left as it was.
 */
function makeDirectory(dir: string, mode?: number): void {
  try {
    mkdirSync(dir, { mode });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") mkdirSync(dir, { recursive: true, mode });
    // As a recursive mkdir: a directory there already is kept, anything else in its place refused.
    else if (code !== "EEXIST" || !statSync(dir).isDirectory()) throw error;
  }
}

/** Removes an empty cgroup: true when it is gone now (or was never made), false when it holds processes or could not be removed. */
function removedCgroup(cgroup: string): boolean {
  try {
    rmdirSync(cgroup);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT";
  }
}

/**
 * The cgroup's processes. Read synchronously: cgroupfs is in memory (see prepare), and a teardown
 * that finds processes reads it at least twice.
 */
function readPids(cgroup: string): number[] {
  let text = "";
  try {
    text = readFileSync(path.join(cgroup, "cgroup.procs"), "utf8");
  } catch {
    // No cgroup (never made, or removed): no processes.
  }
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map(Number);
}
