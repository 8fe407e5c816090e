/**
 * The `httpd` interface of a lease: start a web server process where the lease lives, and open
 * byte streams to the port it listens on, so the API can proxy `/v1/leases/{id}/http/…` to it
 * (src/api/lease-httpd-routes.ts) without anyone opening a port on a build host.
 *
 * Adapters:
 * - local host, unconfined lease (an admin's, or `sandbox: false`): the server runs through the
 *   lease's command interface and listens on this machine's loopback; streams are plain TCP
 *   connections to 127.0.0.1:port (httpd-local.ts).
 * - local host, sandboxed lease: the sandbox has a network namespace of its own (loopback only),
 *   which the service cannot reach; a relay inside the same sandbox dials the server for the
 *   service over a Unix socket the service owns (httpd-relay.ts).
 * - SSH hosts (static-hosts, ec2-host): the server runs through the lease's SSH command
 *   interface; streams are direct-tcpip channels of the lease's own SSH connection to
 *   127.0.0.1:port on the host (httpd-ssh.ts).
 *
 * Invariants:
 * - The server is a command of the lease like any other: same working directory rules, same
 *   environment, same markers (DRYDOCK_LEASE), so the lease's teardown kills it with everything
 *   else the lease left running.
 * - `connect` reaches only the loopback port of the lease's own host (or sandbox), never an
 *   address a caller names.
 * - A stream that cannot be opened fails with HttpdUnreachableError, never anything else, so the
 *   proxy answers a clear 503 and never a 500.
 */
import type { Duplex } from "node:stream";
import { InterfaceUnavailableError } from "../domain/errors";
import type { CommandInterface, ExecResult } from "./command-interface";

/** Ports a lease's server may listen on: not the privileged ones. */
export const MIN_HTTPD_PORT = 1024;
export const MAX_HTTPD_PORT = 65535;

export interface HttpdStartOptions {
  /** Relative to the lease's working directory (a working copy passes its checkout). */
  cwd?: string;
  /** Stops the server (its whole process tree, TERM then KILL) when aborted. */
  signal: AbortSignal;
  /** Every chunk of the server's output as it arrives; nothing else keeps it. */
  onOutput?: (stream: "stdout" | "stderr", chunk: Uint8Array) => void;
  /**
   * Runs the server through this command interface instead of the lease's own: one that runs on
   * the same host, in the same sandbox (a working copy's, which roots commands in its checkout
   * and marks them as the copy's, over its host lease's). See `httpdVia`.
   */
  via?: CommandInterface;
}

/** A started server. */
export interface RunningHttpd {
  /** Settles when the server process has ended (stopped, crashed, or its lease ended). */
  readonly exited: Promise<ExecResult>;
  /** A byte stream to the server's port; throws HttpdUnreachableError when none can be opened. */
  connect(): Promise<Duplex>;
}

export interface HttpdInterface {
  /** Where the server runs, for messages: `this machine`, `ssh build-1 (10.0.0.5:22)`. */
  readonly where: string;
  /** Starts `argv`, which is to listen on `port` (loopback is enough), and returns at once; a failure to start shows in `exited`. */
  start(argv: readonly string[], port: number, options: HttpdStartOptions): RunningHttpd;
}

/**
 * The httpd of a lease that uses another lease's host through its own command interface (a
 * working copy over its host lease): servers start through `command` (so in the copy's checkout,
 * with the copy's markers, which its teardown sweeps), and are reached as the host lease's are.
 */
export function httpdVia(host: HttpdInterface, command: CommandInterface): HttpdInterface {
  return { where: host.where, start: (argv, port, options) => host.start(argv, port, { ...options, via: command }) };
}

/** Nothing answers on the server's port (not started yet, exited, or listening elsewhere). */
export class HttpdUnreachableError extends InterfaceUnavailableError {
  constructor(leaseWhere: string, port: number, why: string) {
    super(`nothing answers on port ${port} of ${leaseWhere}: ${why}`, { port, reason: "unreachable" });
  }
}

/** A short reason from a socket error, without anything but its code or first line. */
export function socketReason(error: unknown): string {
  const e = error as NodeJS.ErrnoException | undefined;
  if (e?.code === "ECONNREFUSED") return "connection refused (is the server listening on that port, on 127.0.0.1?)";
  if (e?.code) return e.code;
  const message = e instanceof Error ? e.message : String(error);
  return (message.split("\n")[0] ?? "").slice(0, 200);
}
