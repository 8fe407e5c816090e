import type { CommandLauncher } from "../interfaces/local-command";
import type { LeaseSandboxLease, LocalSandbox } from "./local-sandbox";

/**
 * Runs a local lease's commands in its sandbox. A shell inside the sandbox execs the program, so
 * a missing or unrunnable program answers 127 or 126 as it does outside one; bwrap itself would
 * answer 1 for both. Every started command is tracked, so the lease's destruction ends it.
 */
const SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function sandboxLauncher(sandbox: LocalSandbox, lease: LeaseSandboxLease): CommandLauncher {
  return {
    async wrap({ argv, cwd, env }) {
      const launch = await sandbox.launch(lease, cwd, ["/bin/sh", "-c", 'exec "$0" "$@"', ...argv]);
      // Inside, /tmp is the lease's own, and the service's PATH may name its private directories.
      const { TMPDIR: _hostTmp, PATH: _hostPath, ...rest } = env;
      return { argv: launch.argv, cwd: "/", env: { PATH: SANDBOX_PATH, ...rest, TMPDIR: "/tmp" }, stdio: launch.stdio, close: launch.close };
    },
    started(child) {
      return sandbox.track(lease.leaseId, child);
    },
  };
}

/**
 * An unconfined lease's commands (an admin's, or with `sandbox: false`) run as they are, but are
 * still tracked, so the lease's destruction ends the ones still running.
 */
export function trackedLauncher(sandbox: LocalSandbox, leaseId: string): CommandLauncher {
  return {
    async wrap(command) {
      return command;
    },
    started(child) {
      return sandbox.track(leaseId, child);
    },
  };
}
