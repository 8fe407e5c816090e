/**
 * The command line that runs one lease process inside its sandbox (pure: no I/O, so a unit test
 * can read exactly what the kernel will be asked for).
 *
 *   [sh -c 'join the lease's cgroup; exec "$@"']        when a pids cgroup is available
 *   bwrap --unshare-{pid,ipc,uts,cgroup} [--unshare-net] --die-with-parent --new-session
 *         --ro-bind <system paths> --proc /proc --dev /dev
 *         --bind-fd 4 /tmp --bind-fd 3 <lease dir> --chdir <cwd> --
 *   [setpriv --reuid U --regid G --clear-groups ...]     when the service runs as root
 *   argv...
 *
 * Invariants:
 * - The lease's directory and its private /tmp are the only writable paths. Nothing else of the
 *   host is mounted but the read-only system paths, and the paths in `hidden` (the service's
 *   home, its database) are covered by an empty tmpfs wherever a system path would show them.
 * - A fresh PID namespace whose init is bwrap: when the command's main process exits, or the
 *   outer bwrap is killed (timeout, lease destroyed), the kernel kills every process left in the
 *   namespace. `setsid`, double forks and `&` cannot outlive the command.
 * - `--die-with-parent`: if the service dies, its sandboxes die with it.
 * - When the service is root, `setpriv` inside the sandbox drops to the unprivileged lease user
 *   with no capabilities and no_new_privs before the command runs. When it is not, bwrap runs
 *   unprivileged in a user namespace and the command keeps the service's (unprivileged) user.
 */
import path from "node:path";

export interface SandboxIdentity {
  uid: number;
  gid: number;
}

export interface SandboxSpec {
  /** The lease's working directory: bound read-write at the same path. */
  leaseDir: string;
  /**
   * Open directory descriptors (in the child) of the lease's directory and of its private
   * temporary directory (bound at /tmp). The service opened them without following symlinks, so
   * bwrap binds exactly the directories that were checked, whatever their paths say by then,
   * and the lease user needs no access to the directories above them.
   */
  leaseDirFd: number;
  tmpDirFd: number;
  /** Files passed as pipes at these descriptors, copied read-only into the sandbox at `dest`. */
  dataFiles?: readonly { fd: number; dest: string }[];
  /** Where the command starts, inside leaseDir. */
  cwd: string;
  /** Read-only system paths, each bound only if it exists (the caller says which do). */
  readOnlyPaths: readonly { path: string; symlinkTo?: string }[];
  /** Paths to keep out of sight even when a read-only path contains them. */
  hidden: readonly string[];
  /** Extra single files to bind read-only (the Node.js binary, when outside the system paths). */
  readOnlyFiles?: readonly string[];
  /** Share the host's network namespace (false: loopback only, the service's ports unreachable). */
  network: boolean;
  /** Switch to this user first; null when the service itself is unprivileged. */
  user: SandboxIdentity | null;
  /** The lease's pids cgroup directory, joined before the sandbox starts; null when none. */
  cgroupDir: string | null;
  argv: readonly string[];
}

export const BWRAP = "bwrap";

/** System paths a build needs, read-only. Merged-/usr systems have /bin etc. as symlinks. */
export const DEFAULT_READ_ONLY_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"] as const;

export function sandboxArgv(spec: SandboxSpec): string[] {
  const bwrap: string[] = [BWRAP, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"];
  // Run as root, bwrap mounts with the service's own rights (it can reach a lease directory
  // below a home only root may enter) and keeps just the two capabilities setpriv needs to
  // become the lease user inside; setpriv then drops them all before the command starts.
  if (spec.user) bwrap.push("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID");
  if (!spec.network) bwrap.push("--unshare-net");
  bwrap.push("--die-with-parent", "--new-session", "--hostname", "drydock-lease");
  for (const entry of spec.readOnlyPaths) {
    if (entry.symlinkTo !== undefined) bwrap.push("--symlink", entry.symlinkTo, entry.path);
    else bwrap.push("--ro-bind", entry.path, entry.path);
  }
  for (const hidden of spec.hidden) {
    if (spec.readOnlyPaths.some((p) => p.symlinkTo === undefined && isWithin(hidden, p.path))) bwrap.push("--tmpfs", hidden);
  }
  for (const file of spec.readOnlyFiles ?? []) {
    if (!spec.readOnlyPaths.some((p) => p.symlinkTo === undefined && isWithin(file, p.path))) bwrap.push("--ro-bind", file, file);
  }
  bwrap.push("--proc", "/proc", "--dev", "/dev");
  bwrap.push("--bind-fd", String(spec.tmpDirFd), "/tmp");
  // The directories above the lease's are made in the sandbox, traversable and empty: bwrap
  // would otherwise make them as root with mode 0700, and the lease user could not reach its own.
  for (const dir of ancestorsOf(spec.leaseDir)) bwrap.push("--perms", "0755", "--dir", dir);
  bwrap.push("--bind-fd", String(spec.leaseDirFd), spec.leaseDir);
  for (const file of spec.dataFiles ?? []) bwrap.push("--perms", "0444", "--ro-bind-data", String(file.fd), file.dest);
  bwrap.push("--chdir", spec.cwd, "--");
  if (spec.user) {
    bwrap.push(
      "setpriv",
      `--reuid=${spec.user.uid}`,
      `--regid=${spec.user.gid}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
    );
  }
  bwrap.push(...spec.argv);

  let argv = bwrap;
  if (spec.cgroupDir) {
    // The shell joins the cgroup, then execs: everything after it (setpriv, bwrap, the command
    // and all it starts) is counted against the lease's pids.max.
    argv = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', spec.cgroupDir, ...argv];
  }
  return argv;
}

/** `/a/b/c` -> [`/a`, `/a/b`]: the directories above a path, outermost first, `/` left out. */
export function ancestorsOf(dir: string): string[] {
  const out: string[] = [];
  let current = path.dirname(dir);
  while (current !== path.dirname(current)) {
    out.unshift(current);
    current = path.dirname(current);
  }
  return out;
}

/** True when `inner` is `outer` or below it (both absolute, normalized). */
export function isWithin(inner: string, outer: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}
