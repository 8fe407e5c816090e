/**
 * The effects of the `static-hosts` blueprint on a host: resolving the private key reference,
 * short-lived connections for resource-level work (activation, health checks, teardown), and
 * mapping SSH failures to provider failures.
 *
 * Invariant: the key material is read when a connection is opened and held only for it. Error
 * messages name the reference (the variable or file), never what it holds.
 */
import { accessSync, constants } from "node:fs";
import { readFile } from "node:fs/promises";
import { DomainError, ValidationError } from "../domain/errors";
import { SshCommandInterface } from "../interfaces/ssh-command";
import { SshConnectionPool, type SshSession } from "../interfaces/ssh-connections";
import { SshConnectionError, type SshFailureKind, type SshTarget } from "../interfaces/ssh-target";
import { misconfigured, no, yes, type Verdict } from "./blueprint";
import { PermanentFailure, TemporaryFailure, type FailureScope } from "./failures";
import type { StaticHost, StaticHostsConfig } from "./static-hosts-config";

/** What a connection needs of a host's config (a static host, or an EC2 blueprint's instances). */
export type KeyedHost = Pick<StaticHost, "name" | "privateKey">;
/** What the ready check needs of a blueprint's config. */
export type ReadyConfig = Pick<StaticHostsConfig, "readyCommand" | "readyTimeoutSeconds" | "maxProcesses">;

export async function loadPrivateKey(host: KeyedHost): Promise<Buffer> {
  const ref = host.privateKey;
  if ("env" in ref) {
    const value = process.env[ref.env];
    if (!value) throw new SshConnectionError("bad_key", `the private key of host ${host.name}: environment variable ${ref.env} is not set`, host.name);
    return Buffer.from(value, "utf8");
  }
  try {
    return await readFile(ref.file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new SshConnectionError("bad_key", `the private key of host ${host.name}: cannot read ${ref.file} (${code})`, host.name);
  }
}

/**
 * At create and PATCH: the key reference can be read by this service (the variable is set, the
 * file readable), or a 400 names the field. The key itself is not read here.
 */
export function checkPrivateKeyReference(host: StaticHost, index: number): void {
  const ref = host.privateKey;
  if ("env" in ref) {
    if (process.env[ref.env]) return;
    const field = `config.hosts.${index}.privateKey.env`;
    throw new ValidationError(`${field}: environment variable ${ref.env} is not set in the Drydock service's environment (host ${host.name})`, { issues: [{ field, message: `environment variable ${ref.env} is not set` }] });
  }
  try {
    accessSync(ref.file, constants.R_OK);
  } catch (error) {
    const field = `config.hosts.${index}.privateKey.file`;
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ValidationError(`${field}: the Drydock service cannot read ${ref.file} (${code}) (host ${host.name})`, { issues: [{ field, message: `cannot read ${ref.file} (${code})` }] });
  }
}

export async function targetOf(config: StaticHostsConfig, host: StaticHost): Promise<SshTarget> {
  return {
    name: host.name,
    address: host.address,
    port: host.port,
    user: host.user,
    privateKey: await loadPrivateKey(host),
    hostKeyFingerprint: host.hostKeyFingerprint,
    connectTimeoutMs: Math.round(config.connectTimeoutSeconds * 1000),
  };
}

/** One connection for one piece of work, closed after it. */
export async function withConnection<T>(target: SshTarget, fn: (session: SshSession) => Promise<T>): Promise<T> {
  const pool = new SshConnectionPool({ idleMs: 0, keepaliveIntervalMs: 0 });
  try {
    return await pool.use("once", target, fn);
  } finally {
    await pool.closeAll();
  }
}

export interface RawResult {
  exitCode: number | null;
  stderr: string;
}

/** Runs a command line built here (mkdir, rm) and waits for it, up to `timeoutMs`. */
export async function runRaw(session: SshSession, commandLine: string, timeoutMs: number): Promise<RawResult> {
  const { channel, exit } = await session.exec(commandLine);
  return new Promise<RawResult>((resolve) => {
    let stderr = "";
    const timer = setTimeout(() => channel.close(), timeoutMs);
    channel.resume();
    channel.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString("utf8");
    });
    channel.on("error", () => {});
    channel.on("close", () => {
      clearTimeout(timer);
      resolve({ exitCode: exit()?.code ?? null, stderr: stderr.trim() });
    });
    channel.end();
  });
}

/**
 * The ready command (or `true`) in the resource's directory: a host is ready when it answers SSH
 * with the pinned key and the command exits 0. Returns why not otherwise.
 */
export async function readyVerdict(session: SshSession, config: ReadyConfig, dir: string, host: Pick<StaticHost, "name">): Promise<Verdict> {
  // Under the same process limit as the leases' commands: a host where it cannot be set is not ready.
  const command = new SshCommandInterface({ root: dir, allowShell: false, session: (fn) => fn(session), maxProcesses: config.maxProcesses });
  const argv = config.readyCommand ?? ["true"];
  const result = await command.exec(argv, { timeoutMs: Math.round(config.readyTimeoutSeconds * 1000), maxOutputBytes: 4096 });
  if (result.timedOut) return no(`the ready command on ${host.name} did not finish within ${config.readyTimeoutSeconds} s`);
  if (result.exitCode === 0) return yes;
  // 127: the shell found no such command. Retrying cannot install it: a configuration error.
  if (result.exitCode === 127) return misconfigured(`the ready command ${JSON.stringify(argv.join(" "))} is not found on ${host.name} (exit 127)`);
  const status = result.exitCode === null ? `was ended by ${result.signal}` : `exited with ${result.exitCode}`;
  const detail = result.stderr.trim().slice(-300);
  return no(`the ready command ${JSON.stringify(argv.join(" "))} on ${host.name} ${status}${detail ? `: ${detail}` : ""}`);
}

/** Failures only a config change (or a fix on the host) can cure: retrying hits the same wall. */
const CONFIGURATION_KINDS: ReadonlySet<SshFailureKind> = new Set(["host_key_mismatch", "auth_failed", "bad_key"]);
/**
 * Failures that say the host is down. Not "lost": a connection closed before it was ready or a
 * channel refused is also what sshd's MaxStartups and MaxSessions do to a healthy, busy host.
 */
const HOST_DOWN_KINDS: ReadonlySet<SshFailureKind> = new Set(["unreachable", "timeout"]);

/** Whether an SSH failure is the host's (and which kind), so that it counts against the host. */
export function hostFailureScope(error: unknown, hostName: string): FailureScope | null {
  if (!(error instanceof SshConnectionError)) return null;
  if (CONFIGURATION_KINDS.has(error.kind)) return { target: hostName, configuration: true };
  if (HOST_DOWN_KINDS.has(error.kind)) return { target: hostName, configuration: false };
  return null;
}

/**
 * A failure of resource activation: the host is broken for this resource whatever went wrong
 * (a host that does not answer SSH, or shows another key, is broken). Its leases go back to
 * pending and land elsewhere; a configuration error is also recorded on the blueprint.
 */
export function activationFailure(error: unknown, hostName: string): unknown {
  if (error instanceof SshConnectionError) return new PermanentFailure(error.message, error.kind, hostFailureScope(error, hostName) ?? undefined);
  if (error instanceof DomainError) return new PermanentFailure(error.message, error.code);
  return error;
}

/**
 * A failure to set up a lease on a host that was fine a moment ago. If the host itself failed
 * (down, or refusing our key), the failure counts against the resource at once and the lease
 * goes elsewhere (src/allocator/resource-failures.ts); otherwise it is retried.
 */
export function leaseSetupFailure(error: unknown, hostName: string): unknown {
  if (error instanceof SshConnectionError) return new TemporaryFailure(error.message, error.kind, undefined, hostFailureScope(error, hostName) ?? undefined);
  return error;
}
