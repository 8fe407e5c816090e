import type { ExecOptions, ExecResult } from "./command-interface";

/**
 * One output stream of a command (stdout or stderr), kept in memory up to a limit.
 *
 * Shared by the local and SSH command adapters, so both bound memory the same way whatever the
 * process writes: the first `limit` bytes are kept, the rest is only counted, and the pipe keeps
 * being drained so the process never blocks on a full one (unless the caller's onOutput asks for
 * a pause: that is the caller's backpressure, see OutputPacer in output-pause.ts).
 */
export class BoundedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  totalBytes = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(part);
    this.kept += part.length;
  }

  get truncated(): boolean {
    return this.totalBytes > this.kept;
  }

  /** A cut may split a UTF-8 sequence; the decoder then ends with U+FFFD, which is acceptable. */
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/** A finished command's result: how it ended, and its two outputs as kept. */
export function execResultOf(
  ended: Pick<ExecResult, "exitCode" | "signal" | "timedOut">,
  stdout: BoundedOutput,
  stderr: BoundedOutput,
  durationMs: number,
): ExecResult {
  return {
    exitCode: ended.exitCode,
    signal: ended.signal,
    stdout: stdout.text(),
    stderr: stderr.text(),
    stdoutTruncated: stdout.truncated,
    stderrTruncated: stderr.truncated,
    stdoutBytes: stdout.totalBytes,
    stderrBytes: stderr.totalBytes,
    timedOut: ended.timedOut,
    durationMs,
  };
}

export type OutputListener = (stream: "stdout" | "stderr", chunk: Uint8Array) => unknown;

/**
 * Calls a caller's output callback without letting it break the command: an exception thrown
 * by the listener (a closed HTTP stream, say) must not leave the process running unobserved.
 * What the listener returns (a pause, see ExecOptions.onOutput) is passed on to the adapter.
 */
export function safeOutputListener(listener: ExecOptions["onOutput"]): OutputListener {
  if (!listener) return () => {};
  let failed = false;
  return (stream, chunk) => {
    if (failed) return;
    try {
      return listener(stream, chunk);
    } catch {
      failed = true;
    }
  };
}
