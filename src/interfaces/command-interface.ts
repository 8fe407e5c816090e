import { ValidationError } from "../domain/errors";

/**
 * The `command` interface of a lease: run an argv where the lease lives.
 * Adapters: local (child_process) and SSH (ssh2). Both honour the same contract.
 */
export interface ExecOptions {
  /** Working directory, relative to the lease's working directory (never outside it). */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Bytes written to the process's stdin, then stdin is closed. */
  stdin?: string | Uint8Array;
  /** Kill the whole process tree after this many milliseconds. */
  timeoutMs?: number;
  /** Run argv[0] through `/bin/sh -c` (only when the blueprint allows shells). */
  shell?: boolean;
  /** Each of stdout and stderr is kept up to this many bytes; the rest is dropped and counted. */
  maxOutputBytes?: number;
  /**
   * Called with every chunk of output as it arrives, before any bound applies (so a streaming
   * caller sees everything even when the kept copy is truncated). Chunks are raw bytes and may
   * split a UTF-8 sequence. A listener that throws is ignored from then on.
   *
   * Backpressure: a listener that cannot take more for now returns a promise (any thenable;
   * other return values are ignored, so `(s, c) => chunks.push(c)` is fine). The adapter then
   * stops reading both stdout and stderr until that promise settles (fulfilled or rejected), so
   * the process blocks once its pipe (or the SSH channel's window) is full, and memory stays
   * bounded however slow the consumer is. Chunks already read may still arrive while paused.
   * The timeout keeps running while paused: a consumer that never resumes cannot hold the
   * process past it.
   */
  onOutput?: (stream: "stdout" | "stderr", chunk: Uint8Array) => unknown;
  /**
   * Cancels the command: once aborted, the adapter ends it the way a timeout does (the whole
   * process group, TERM then KILL), but the result says `timedOut: false`. Aborted before the
   * process started, it is ended as soon as it has.
   */
  signal?: AbortSignal;
}

export interface ExecResult {
  /** Exit code, or null when the process was ended by a signal. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** Total bytes the process wrote, including what was dropped. */
  stdoutBytes: number;
  stderrBytes: number;
  timedOut: boolean;
  durationMs: number;
}

export interface CommandInterface {
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;
/** The longest `timeoutSeconds` a request to the API may ask for (the CLI's `--timeout` too). */
export const MAX_REQUEST_TIMEOUT_SECONDS = 3600;
/** setTimeout fires at once for larger delays, which would turn a long timeout into none. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * The timeout and output bound a command runs with, the caller's or the defaults: checked the same
 * way by every adapter, so a bad one is refused by name wherever the lease lives.
 */
export function execLimits(options: Pick<ExecOptions, "timeoutMs" | "maxOutputBytes">): { timeoutMs: number; maxOutputBytes: number } {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new ValidationError(`timeoutMs must be between 1 and ${MAX_TIMEOUT_MS}`, { field: "timeoutMs" });
  }
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  if (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 0) {
    throw new ValidationError("maxOutputBytes must be a non-negative integer", { field: "maxOutputBytes" });
  }
  return { timeoutMs, maxOutputBytes };
}
