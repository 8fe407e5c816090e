/**
 * The lease side of a blueprint whose resources are SSH hosts (`static-hosts`, `ec2-host`): a
 * directory per lease made on activation, commands over SSH and files over SFTP through one
 * pooled connection per lease, and a teardown that kills every process the lease left and
 * removes its directory. One implementation, so every SSH host behaves the same to a lease.
 *
 * Invariant: every process a lease starts ends with the lease. Its commands carry
 * `DRYDOCK_LEASE=<lease>` in their environment, and the teardown kills every process of the SSH
 * user that carries it (setsid, nohup and daemons included) before removing the directory, and
 * says which in LeaseDestroyed (marked-processes.ts).
 */
import { LEASE_MARKER, sweepMarkedProcesses } from "../interfaces/marked-processes";
import { makeDirectoryCommandLine, removeTreeCommandLine } from "../interfaces/remote-shell";
import { SftpFilesystemInterface } from "../interfaces/sftp-filesystem";
import { SshCommandInterface } from "../interfaces/ssh-command";
import { sshHttpd } from "../interfaces/httpd-ssh";
import type { SessionRunner, SshConnectionPool } from "../interfaces/ssh-connections";
import { SshConnectionError, type SshTarget } from "../interfaces/ssh-target";
import { LeaseCleanupError, type BlueprintEffects, type LeaseInterfaces, type LeaseTeardown } from "./blueprint";
import { PermanentFailure } from "./failures";
import { hostFailureScope, leaseSetupFailure, runRaw } from "./static-hosts-remote";

/** How long mkdir/rm of a lease or resource directory, or the sweep of a lease's processes, may take. */
export const HOUSEKEEPING_TIMEOUT_MS = 120_000;
/** Killed processes listed in LeaseDestroyed; the rest are counted. */
const KILLED_LISTED = 100;

export interface SshLeaseHost {
  /** The host's name in messages and failure scopes (a static host's name, an instance's target). */
  name: string;
  /** Resolves the connection target (reads the private key): may throw an SshConnectionError. */
  target(): Promise<SshTarget>;
  allowShell: boolean;
  maxProcesses: number;
}

/** Makes the lease's directory on the host, through the lease's pooled connection. */
export async function activateSshLease(pool: SshConnectionPool, host: SshLeaseHost, leaseId: string, dir: string): Promise<{ workingDirectory: string }> {
  try {
    const target = await host.target();
    const made = await pool.use(leaseId, target, (session) => runRaw(session, makeDirectoryCommandLine(dir), HOUSEKEEPING_TIMEOUT_MS));
    if (made.exitCode !== 0) throw new PermanentFailure(`cannot create ${dir} on ${host.name}: ${made.stderr || `exit ${made.exitCode}`}`, "lease_dir");
  } catch (error) {
    throw leaseSetupFailure(error, host.name);
  }
  return { workingDirectory: dir };
}

/** Kills the lease's processes, then removes its directory; closes its connection whatever happens. */
export async function destroySshLease(pool: SshConnectionPool, host: SshLeaseHost, leaseId: string, dir: string): Promise<LeaseTeardown> {
  try {
    const target = await host.target();
    return await pool.use(leaseId, target, async (session) => {
      // First the processes, so none writes into the directory while it is removed. A sweep
      // that cannot be done (no /proc) is reported, but the directory still goes.
      const problems: string[] = [];
      let teardown: LeaseTeardown = {};
      try {
        const swept = await sweepMarkedProcesses(session, LEASE_MARKER, leaseId, { timeoutMs: HOUSEKEEPING_TIMEOUT_MS, maxListed: KILLED_LISTED });
        teardown = { killedProcesses: swept.killed, ...(swept.unlisted > 0 ? { killedProcessesOmitted: swept.unlisted } : {}) };
        if (swept.left > 0) problems.push(`${swept.left} of the lease's processes on ${host.name} survived SIGKILL`);
      } catch (error) {
        if (error instanceof SshConnectionError) throw error;
        problems.push(error instanceof Error ? error.message : String(error));
      }
      const removed = await runRaw(session, removeTreeCommandLine(dir), HOUSEKEEPING_TIMEOUT_MS);
      if (removed.exitCode !== 0) problems.push(`cannot remove ${dir} on ${host.name}: ${removed.stderr || `exit ${removed.exitCode}`}`);
      if (problems.length > 0) throw new LeaseCleanupError(problems.join("; "), teardown);
      return teardown;
    });
  } finally {
    await pool.close(leaseId);
  }
}

/**
 * The lease's command and filesystem interfaces over its pooled connection. The host failing a
 * command or file operation (down, or refusing our key) counts against the resource at once.
 */
export async function sshLeaseInterfaces(
  pool: SshConnectionPool,
  host: SshLeaseHost,
  resourceId: string,
  leaseId: string,
  root: string,
  effects: BlueprintEffects,
): Promise<LeaseInterfaces> {
  const reportHost = async (error: unknown) => {
    const scope = hostFailureScope(error, host.name);
    if (scope) await effects.reportResourceFailure(resourceId, { ...scope, code: (error as SshConnectionError).kind, message: (error as Error).message });
  };
  let target: SshTarget;
  try {
    target = await host.target();
  } catch (error) {
    await reportHost(error);
    throw error;
  }
  const session: SessionRunner = (fn) =>
    pool.use(leaseId, target, fn).catch(async (error: unknown) => {
      await reportHost(error);
      throw error;
    });
  const command = new SshCommandInterface({ root, allowShell: host.allowShell, session, leaseId, maxProcesses: host.maxProcesses });
  return { command, filesystem: new SftpFilesystemInterface({ root, session }), httpd: sshHttpd(command, session, `host ${host.name}`) };
}
