/**
 * What this machine offers for sandboxing lease processes, found out once at start: whether
 * bubblewrap runs, which user lease processes run as, and where per-lease pids cgroups go.
 *
 * A sandbox that cannot be set up is reported with its reason, never silently skipped: the
 * local-host blueprint then refuses client leases instead of running them unconfined.
 */
import { execFile, spawn } from "node:child_process";
import { access, chown, lstat, mkdir, mkdtemp, open, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { constants } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { BWRAP, DEFAULT_READ_ONLY_PATHS, sandboxArgv, type SandboxIdentity } from "./sandbox-argv";
import { readOnlyPathEntries } from "./system-paths";
import { isProcessRunning } from "../service/process-running";

const run = promisify(execFile);

export interface SandboxHost {
  /** Null when lease processes can be sandboxed; otherwise why not, in words a user can act on. */
  unavailable: string | null;
  /** The unprivileged user lease processes run as; null when the service is unprivileged itself. */
  user: (SandboxIdentity & { name: string }) | null;
  /** Parent of the per-lease pids cgroups; null when none can be made (no process cap then). */
  cgroupRoot: string | null;
  readOnlyPaths: { path: string; symlinkTo?: string }[];
}

export interface SandboxHostOptions {
  /** The Unix user lease processes run as (created on first use when the service is root). */
  userName?: string;
  /** A parent cgroup directory of the pids controller; found automatically when unset. */
  cgroupRoot?: string;
  readOnlyPaths?: readonly string[];
}

export const DEFAULT_SANDBOX_USER = "drydock-lease";

export async function probeSandboxHost(options: SandboxHostOptions = {}): Promise<SandboxHost> {
  const readOnlyPaths = await readOnlyPathEntries(options.readOnlyPaths ?? DEFAULT_READ_ONLY_PATHS);
  const none = (reason: string): SandboxHost => ({ unavailable: reason, user: null, cgroupRoot: null, readOnlyPaths });
  if (process.platform !== "linux") return none(`lease sandboxes need Linux (this is ${process.platform})`);
  const isRoot = process.getuid?.() === 0;
  let user: SandboxHost["user"] = null;
  if (isRoot) {
    try {
      user = await ensureUser(options.userName ?? DEFAULT_SANDBOX_USER);
    } catch (error) {
      return none(`cannot set up the sandbox user ${options.userName ?? DEFAULT_SANDBOX_USER}: ${(error as Error).message}`);
    }
  }
  const cgroupRoot = isRoot ? await findCgroupRoot(options.cgroupRoot) : null;
  const host: SandboxHost = { unavailable: null, user, cgroupRoot, readOnlyPaths };
  const problem = await trySandbox(host);
  return problem ? { ...host, unavailable: problem } : host;
}

/** Looks the user up, creating a system user with no home and no login shell when missing. */
async function ensureUser(name: string): Promise<SandboxIdentity & { name: string }> {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) throw new Error(`not a valid user name: ${JSON.stringify(name)}`);
  const found = await lookupUser(name);
  if (found) return found;
  await run("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]).catch(
    async (error: Error) => {
      // Another Drydock process on this machine may have created it meanwhile.
      if (!(await lookupUser(name))) throw new Error(`useradd failed: ${error.message.split("\n")[0]}`);
    },
  );
  const created = await lookupUser(name);
  if (!created) throw new Error("useradd reported success but the user is not there");
  return created;
}

async function lookupUser(name: string): Promise<(SandboxIdentity & { name: string }) | null> {
  const passwd = await readFile("/etc/passwd", "utf8");
  for (const line of passwd.split("\n")) {
    const [user, , uid, gid] = line.split(":");
    if (user === name && uid !== undefined && gid !== undefined) {
      const identity = { name, uid: Number(uid), gid: Number(gid) };
      if (identity.uid === 0 || identity.gid === 0) throw new Error(`${name} is privileged (uid or gid 0)`);
      return identity;
    }
  }
  return null;
}

/** Where findCgroupRoot looks when none is configured: cgroup v1's pids hierarchy, then the v2 root. */
export const DEFAULT_CGROUP_BASES = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"] as const;

/** The parent of the per-lease cgroups under a base of the pids controller. */
export const cgroupRootUnder = (base: string) => path.join(base, "drydock");

/**
 * A directory under which a `drydock` cgroup with a pids controller can be made: the configured
 * one, cgroup v1's pids hierarchy, or the v2 root when it delegates pids.
 */
async function findCgroupRoot(configured: string | undefined): Promise<string | null> {
  const candidates = configured ? [configured] : DEFAULT_CGROUP_BASES;
  for (const base of candidates) {
    try {
      if (base === "/sys/fs/cgroup" && !configured) {
        const controllers = await readFile(path.join(base, "cgroup.subtree_control"), "utf8").catch(() => "");
        if (!controllers.split(/\s+/).includes("pids")) continue;
      }
      const root = cgroupRootUnder(base);
      await mkdir(root, { recursive: true });
      // Prove it works: a child cgroup whose pids.max can be written.
      const probe = path.join(root, `probe-${process.pid}`);
      await mkdir(probe, { recursive: true });
      try {
        await writeFile(path.join(probe, "pids.max"), "16");
      } finally {
        await rmdir(probe).catch(() => undefined);
      }
      return root;
    } catch {
      continue;
    }
  }
  return null;
}

/** Runs `true` in a sandbox as lease commands will run; returns why it failed, or null. */
async function trySandbox(host: SandboxHost): Promise<string | null> {
  await removeLeftProbes(host);
  try {
    await access("/usr/bin/bwrap", constants.X_OK).catch(async () => {
      await run("sh", ["-c", `command -v ${BWRAP}`]);
    });
  } catch {
    return "bubblewrap (bwrap) is not installed: install Debian's bubblewrap package";
  }
  const dir = await mkdtempOwned(host);
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const argv = sandboxArgv({
      leaseDir: dir,
      leaseDirFd: 3,
      tmpDirFd: 4,
      cwd: dir,
      readOnlyPaths: host.readOnlyPaths,
      hidden: [],
      network: false,
      user: host.user,
      cgroupDir: null,
      argv: ["true"],
    });
    await runWithFd(argv, handle.fd);
    return null;
  } catch (error) {
    const detail = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split("\n")[0];
    return `bubblewrap cannot start a sandbox here: ${detail}`;
  } finally {
    await handle.close();
    // Not empty: the probe binds the directory as the sandbox's /tmp too, and bwrap makes the
    // lease directory's mount point (its own path, under /tmp) inside it.
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

const PROBE_PREFIX = "drydock-sandbox-probe-";

/** Mode 0700 (mkdtemp's), owned by the lease user; named after this process for removeLeftProbes. */
async function mkdtempOwned(host: SandboxHost): Promise<string> {
  const dir = await mkdtemp(path.join("/tmp", `${PROBE_PREFIX}${process.pid}-`));
  if (host.user) await chown(dir, host.user.uid, host.user.gid);
  return dir;
}

/**
 * Removes the probe directories of processes that are gone: releases before 2026-12-04 left one
 * in /tmp at every start (see trySandbox's rm). A running process's probe is left alone.
 *
 * /tmp is everyone's: only a real directory (not a symlink) that this service or the lease user
 * owns, and that nobody else may write to, is removed. Such a directory's contents are the probe's
 * own (lease processes never see this /tmp), so no one can swap a symlink in under the removal.
 */
async function removeLeftProbes(host: SandboxHost): Promise<void> {
  const owners = new Set([process.getuid?.(), host.user?.uid].filter((uid) => uid !== undefined));
  const entries = await readdir("/tmp").catch(() => [] as string[]);
  for (const name of entries) {
    if (!name.startsWith(PROBE_PREFIX)) continue;
    const pid = Number(name.slice(PROBE_PREFIX.length).split("-")[0]);
    if (!Number.isInteger(pid) || pid <= 0 || isProcessRunning(pid)) continue;
    const dir = path.join("/tmp", name);
    const info = await lstat(dir).catch(() => null);
    if (!info?.isDirectory() || !owners.has(info.uid) || (info.mode & 0o022) !== 0) continue;
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function runWithFd(argv: string[], fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe", fd, fd], cwd: "/" });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(Object.assign(new Error(`exit ${code}`), { stderr }));
    });
  });
}
