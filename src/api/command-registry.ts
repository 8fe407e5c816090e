import { randomBytes } from "node:crypto";
import { NotFoundError, TooManyCommandsError } from "../domain/errors";
import type { CommandInterface, ExecOptions, ExecResult } from "../interfaces/command-interface";

/** The header that carries a command's id on the response of `POST /v1/leases/{id}/commands`. */
export const COMMAND_ID_HEADER = "Drydock-Command-Id";

/** A command's result over the API: the adapter's, and whether a cancel ended it. */
export type ApiExecResult = ExecResult & { cancelled: boolean };

/** How long `DELETE …/commands/{id}` waits for the command to end before it answers `ended: false`. */
const CANCEL_WAIT_MS = 15_000;

/**
 * The commands this API process runs now, by id, so that a client can cancel one
 * (`DELETE /v1/leases/{id}/commands/{commandId}`) and a client that goes away ends its own.
 *
 * Invariants:
 * - Per process, in memory: a command is cancelled through the process that runs it. Behind a
 *   load balancer a DELETE that reaches another process answers 404; closing the command's own
 *   connection works wherever it runs. Nothing here is in the event log.
 * - An id is found only under its own lease: a lease's owner cannot reach another lease's
 *   command by its id (the access policy has already checked the lease in the path).
 * - An entry lives exactly as long as the adapter's exec: it is added when exec starts and
 *   removed when exec settles, whatever the outcome, so the map never holds an ended command.
 * - Cancelling uses the adapters' own kill path (ExecOptions.signal), the one their timeout uses.
 * - A lease runs at most its blueprint's `maxConcurrentCommands` at once in this process,
 *   counted from these entries: one more is refused with 429 before it starts.
 */
export class CommandRegistry {
  private readonly running = new Map<string, RunningCommand>();

  /**
   * A command about to start on `leaseId`, with a fresh id. `connection`: the request's signal;
   * when it aborts (the client closed the connection before the response was complete), the
   * command is cancelled.
   */
  prepare(leaseId: string, command: CommandInterface, limit: number, connection?: AbortSignal): RunningCommand {
    return new RunningCommand(`cm_${randomBytes(12).toString("hex")}`, leaseId, command, limit, this.running, connection);
  }

  /**
   * Cancels a running command of the lease, then waits (up to CANCEL_WAIT_MS) for it to end.
   * An id that is not running under this lease in this process is not found.
   */
  async cancel(leaseId: string, commandId: string): Promise<{ id: string; leaseId: string; ended: boolean }> {
    const command = this.running.get(commandId);
    if (!command || command.leaseId !== leaseId) throw new NotFoundError("command", commandId.length > 80 ? `${commandId.slice(0, 80)}…` : commandId);
    command.cancel();
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([command.ended.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CANCEL_WAIT_MS)))]);
    clearTimeout(timer);
    return { id: command.id, leaseId, ended };
  }

  /** How many commands this process runs now (tests, diagnostics). */
  get size(): number {
    return this.running.size;
  }
}

/** One command, from the request that starts it to the end of its exec. */
export class RunningCommand {
  private readonly controller = new AbortController();
  private settle!: () => void;
  /** Settles when the adapter's exec has (never rejects). */
  readonly ended = new Promise<void>((resolve) => (this.settle = resolve));

  constructor(
    readonly id: string,
    readonly leaseId: string,
    private readonly command: CommandInterface,
    /** Commands the lease may run at once: one more is refused before it starts (429), never queued. */
    private readonly limit: number,
    private readonly running: Map<string, RunningCommand>,
    private readonly connection: AbortSignal | undefined,
  ) {}

  cancel(): void {
    this.controller.abort();
  }

  get cancelled(): boolean {
    return this.controller.signal.aborted;
  }

  /** Runs the command, registered under its id while it runs; its options get the cancel signal. */
  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ApiExecResult> {
    let runningOnLease = 0;
    for (const other of this.running.values()) if (other.leaseId === this.leaseId) runningOnLease++;
    if (runningOnLease >= this.limit) {
      this.settle();
      throw new TooManyCommandsError(this.leaseId, this.limit);
    }
    const onGone = () => this.cancel();
    if (this.connection?.aborted) this.cancel();
    this.connection?.addEventListener("abort", onGone, { once: true });
    this.running.set(this.id, this);
    try {
      const result = await this.command.exec(argv, { ...options, signal: this.controller.signal });
      return { ...result, cancelled: this.cancelled };
    } finally {
      this.running.delete(this.id);
      this.connection?.removeEventListener("abort", onGone);
      this.settle();
    }
  }
}
