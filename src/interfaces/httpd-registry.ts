/**
 * The servers this API process started for leases: at most one per lease, with what it was
 * started with, whether it still runs, and the tail of its output.
 *
 * Why this is process memory and not events on the lease's stream:
 * - A server is a process, not a state of the lease: the truth of "it runs" is on the host, and
 *   it changes without Drydock (the server crashes, the host reboots, the lease's teardown kills
 *   it). An event saying "started" would be stale the moment that happens, and the log would
 *   keep claiming a server that is gone. The log keeps what Drydock decided; this is not a
 *   decision, and no machine has anything to judge about it.
 * - On the local host the server cannot outlive this process anyway (the sandbox dies with its
 *   parent, `--die-with-parent`), and on an SSH host the lease's teardown sweep kills it by its
 *   DRYDOCK_LEASE marker wherever it was started from. So after a restart of the service there
 *   is nothing to recover: the lease's owner starts the server again.
 * - Like a running command (src/api/command-registry.ts), a server is known only to the API
 *   process that started it: behind a load balancer, a lease's /httpd and /http requests must
 *   reach the same process (route by the path's lease id), or run one API process.
 *
 * Invariants:
 * - One server per lease: starting a second is refused (409) while the first runs; restart
 *   stops the first and waits for it to end before starting the next, so two never race for the
 *   port. Operations on one lease are serialized.
 * - A lease that is no longer active is forgotten (`forget`): its server is stopped if it still
 *   runs here; its teardown kills it on the host in any case.
 * - The argv is kept for restarts only and never shown: it may carry secrets, and the status
 *   names the program alone.
 */
import type { Duplex } from "node:stream";
import { DomainError, InterfaceUnavailableError, NotFoundError, TransitionRefusedError } from "../domain/errors";
import type { HttpdInterface, RunningHttpd } from "./httpd-interface";

export interface HttpdSpec {
  argv: readonly string[];
  port: number;
  cwd?: string;
}

export type HttpdState = "running" | "exited" | "stopped";

export interface HttpdStatus {
  leaseId: string;
  state: HttpdState;
  /** argv[0]; the arguments are not shown (they may hold secrets). */
  program: string;
  port: number;
  startedAt: string;
  endedAt: string | null;
  /** How it ended: its exit code, or the signal that ended it (null while it runs). */
  exitCode: number | null;
  signal: string | null;
  /** Why it ended when not by itself: the lease's connection to its host was lost. */
  error: string | null;
  /** The last bytes of its output (stdout and stderr interleaved), as UTF-8. */
  output: string;
}

/** Output kept per server: enough for the last lines of a traceback. */
export const OUTPUT_TAIL_BYTES = 8 * 1024;
/** An ended server's entry is dropped this long after it ended (its lease may be long gone). */
const ENDED_KEPT_MS = 30 * 60 * 1000;
/** How long a start waits for the process to fail at once before it answers. */
const START_SETTLE_MS = 300;

interface Entry {
  leaseId: string;
  spec: HttpdSpec;
  where: string;
  running: RunningHttpd;
  controller: AbortController;
  startedAt: Date;
  endedAt: Date | null;
  stopRequested: boolean;
  exit: { exitCode: number | null; signal: string | null; error: string | null } | null;
  tail: OutputTail;
  /** Why `exited` rejected, if it did. */
  failure?: unknown;
  /** Settles once `exited` has (never rejects). */
  ended: Promise<void>;
}

export class HttpdRegistry {
  readonly #entries = new Map<string, Entry>();
  /** The last operation queued per lease: start, stop and restart of one lease run one at a time. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Starts the lease's server; 409 while one runs. */
  start(leaseId: string, httpd: HttpdInterface, spec: HttpdSpec): Promise<HttpdStatus> {
    return this.#serialized(leaseId, async () => {
      this.#prune();
      const current = this.#entries.get(leaseId);
      if (current && current.exit === null) throw new TransitionRefusedError("httpd of lease", leaseId, "running", "start");
      return this.#started(this.#launch(leaseId, httpd, spec));
    });
  }

  /** Stops the lease's server (if it runs) and starts it again, with `change` over what it ran with. */
  restart(leaseId: string, httpd: HttpdInterface, change: Partial<HttpdSpec> = {}): Promise<HttpdStatus> {
    return this.#serialized(leaseId, async () => {
      const current = this.#entries.get(leaseId);
      if (!current) throw new NotFoundError("httpd of lease", leaseId);
      await this.#stop(current);
      return this.#started(this.#launch(leaseId, httpd, { ...current.spec, ...definedOf(change) }));
    });
  }

  /** Stops the lease's server and waits until it has ended. */
  stop(leaseId: string): Promise<HttpdStatus> {
    return this.#serialized(leaseId, async () => {
      const current = this.#entries.get(leaseId);
      if (!current) throw new NotFoundError("httpd of lease", leaseId);
      await this.#stop(current);
      return statusOf(current);
    });
  }

  status(leaseId: string): HttpdStatus {
    const current = this.#entries.get(leaseId);
    if (!current) throw new NotFoundError("httpd of lease", leaseId);
    return statusOf(current);
  }

  /**
   * A stream to the lease's server; 503 (interface_unavailable) when none runs (details.reason
   * `not_started`, `not_running`) or nothing answers on its port (`unreachable`).
   */
  async connect(leaseId: string): Promise<{ stream: Duplex; port: number; where: string }> {
    const current = this.#entries.get(leaseId);
    if (!current) {
      throw new InterfaceUnavailableError(`no server was started for lease ${leaseId} (POST /v1/leases/${leaseId}/httpd starts one)`, { reason: "not_started" });
    }
    if (current.exit !== null) {
      const how = current.stopRequested ? "it was stopped" : `it exited (${describeExit(current.exit)})`;
      throw new InterfaceUnavailableError(`the server of lease ${leaseId} (port ${current.spec.port} of ${current.where}) is not running: ${how}`, {
        port: current.spec.port,
        reason: "not_running",
      });
    }
    return { stream: await current.running.connect(), port: current.spec.port, where: current.where };
  }

  /** The lease is no longer active: stop its server here, if it still runs, and drop it. */
  async forget(leaseId: string): Promise<void> {
    const current = this.#entries.get(leaseId);
    if (!current) return;
    this.#entries.delete(leaseId);
    current.stopRequested = true;
    current.controller.abort();
    await current.ended;
  }

  /** Stops every server this process started (the service is closing). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#entries.keys()].map((leaseId) => this.forget(leaseId)));
  }

  #launch(leaseId: string, httpd: HttpdInterface, spec: HttpdSpec): Entry {
    const controller = new AbortController();
    const tail = new OutputTail(OUTPUT_TAIL_BYTES);
    const running = httpd.start(spec.argv, spec.port, {
      ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
      signal: controller.signal,
      onOutput: (_stream, chunk) => tail.push(chunk),
    });
    const entry: Entry = {
      leaseId,
      spec: { ...spec, argv: [...spec.argv] },
      where: httpd.where,
      running,
      controller,
      startedAt: this.now(),
      endedAt: null,
      stopRequested: false,
      exit: null,
      tail,
      ended: Promise.resolve(),
    };
    entry.ended = running.exited.then(
      (result) => {
        entry.exit = { exitCode: result.exitCode, signal: result.signal, error: null };
        entry.endedAt = this.now();
      },
      (error: unknown) => {
        entry.failure = error;
        // A cwd that is not there, the connection to the host lost: said in the status.
        entry.exit = { exitCode: null, signal: null, error: error instanceof Error ? error.message.slice(0, 500) : String(error) };
        entry.endedAt = this.now();
      },
    );
    this.#entries.set(leaseId, entry);
    return entry;
  }

  /**
   * The status a start answers with, after a moment: a request the interface refuses before the
   * process starts (a cwd that is not there) fails the request itself, with its own error, and
   * leaves nothing behind; a program that exits at once shows as exited.
   */
  async #started(entry: Entry): Promise<HttpdStatus> {
    await Promise.race([entry.ended, new Promise((resolve) => setTimeout(resolve, START_SETTLE_MS))]);
    if (entry.failure instanceof DomainError) {
      if (this.#entries.get(entry.leaseId) === entry) this.#entries.delete(entry.leaseId);
      throw entry.failure;
    }
    return statusOf(entry);
  }

  async #stop(entry: Entry): Promise<void> {
    if (entry.exit === null) entry.stopRequested = true;
    entry.controller.abort();
    await entry.ended;
  }

  #serialized<T>(leaseId: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(leaseId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(operation);
    this.#queues.set(leaseId, next);
    const clear = () => {
      if (this.#queues.get(leaseId) === next) this.#queues.delete(leaseId);
    };
    next.then(clear, clear);
    return next;
  }

  #prune(): void {
    const cutoff = this.now().getTime() - ENDED_KEPT_MS;
    for (const [leaseId, entry] of this.#entries) if (entry.endedAt && entry.endedAt.getTime() < cutoff) this.#entries.delete(leaseId);
  }
}

function statusOf(entry: Entry): HttpdStatus {
  const state: HttpdState = entry.exit === null ? "running" : entry.stopRequested ? "stopped" : "exited";
  return {
    leaseId: entry.leaseId,
    state,
    program: entry.spec.argv[0] ?? "",
    port: entry.spec.port,
    startedAt: entry.startedAt.toISOString(),
    endedAt: entry.endedAt?.toISOString() ?? null,
    exitCode: entry.exit?.exitCode ?? null,
    signal: entry.exit?.signal ?? null,
    error: entry.exit?.error ?? null,
    output: entry.tail.text(),
  };
}

function describeExit(exit: NonNullable<Entry["exit"]>): string {
  if (exit.error !== null) return exit.error;
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.exitCode}`;
}

function definedOf(change: Partial<HttpdSpec>): Partial<HttpdSpec> {
  return Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) as Partial<HttpdSpec>;
}

/** The last `limit` bytes written, whatever was written before. */
export class OutputTail {
  #chunks: Uint8Array[] = [];
  #bytes = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk.byteLength > this.limit ? chunk.subarray(chunk.byteLength - this.limit) : chunk);
    this.#bytes += Math.min(chunk.byteLength, this.limit);
    while (this.#bytes - (this.#chunks[0]?.byteLength ?? 0) >= this.limit && this.#chunks.length > 1) this.#bytes -= this.#chunks.shift()!.byteLength;
  }

  text(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.byteLength - this.limit)).toString("utf8");
  }
}
