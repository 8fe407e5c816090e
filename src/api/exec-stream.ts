import { DomainError } from "../domain/errors";
import type { ExecOptions, ExecResult } from "../interfaces/command-interface";

/**
 * `POST /v1/leases/{id}/commands?stream=1`: the command's output as it happens, one JSON object
 * per line (application/x-ndjson):
 *
 *   {"stream":"stdout","data":"..."}          any number, in the order the bytes arrived
 *   {"exit":{"exitCode":0,"signal":null,...}} last: the result without stdout and stderr
 *   {"error":{"code":"...","message":"..."}}  last instead, if the command could not finish
 *
 * A request the command refuses at once (a bad cwd, a lease that cannot be reached) still gets
 * its ordinary JSON error and status: the response commits to 200 only once the command has
 * printed something, finished, or run for `commitAfterMs`.
 *
 * Memory per stream is bounded, however slow the client (issue 13): the lines wait in the
 * response stream's queue, and once that holds `highWaterBytes` (default 1 MiB) the onOutput
 * listener returns a promise, which makes the adapter stop reading the command's stdout and
 * stderr; the command then blocks on its full pipe (or SSH window). The queue's `pull()`, called
 * as the client reads and the queue drains below the mark, resolves it and reading resumes.
 * @hono/node-server reads the next chunk of a response stream only when the socket has taken
 * the last one (it waits for 'drain'), so a client that does not read leaves the queue full.
 * The worst case is the mark, plus one line (a 64 KiB chunk of control characters, escaped, is
 * ~384 KiB), plus the socket's and the pipe's own buffers.
 *
 * The command's timeout keeps running while it is paused: a client that never reads cannot hold
 * a process past it. Nothing is dropped or kept beyond the queue (maxOutputBytes 0), so the exit
 * line reports no truncation, and stdoutBytes/stderrBytes count exactly what the stream carried.
 * `data` is UTF-8 decoded per stream, without splitting a character across lines; bytes that
 * are not UTF-8 become U+FFFD.
 *
 * A client that disconnects ends the command: once the response stream is cancelled (the
 * connection closed), `onClientGone` is called, which the route turns into a cancel of the
 * command on the host (command-registry.ts; the adapters kill its process group as a timeout
 * does). A disconnect before the response commits is seen by the route on the request's signal.
 * What the command prints meanwhile is read and dropped. The exit line says `cancelled: true`
 * when a cancel (a DELETE of the command, from another connection) ended it.
 */
export async function execStream(
  command: { exec(argv: readonly string[], options: ExecOptions): Promise<ExecResult & { cancelled?: boolean }> },
  argv: readonly string[],
  options: ExecOptions,
  stream: { commitAfterMs?: number; highWaterBytes?: number; onClientGone?: () => void; onInternalError?: (error: unknown) => void } = {},
): Promise<ReadableStream<Uint8Array>> {
  const { commitAfterMs = 1_000, highWaterBytes = DEFAULT_HIGH_WATER_BYTES } = stream;
  const encoder = new TextEncoder();
  const decoders = { stdout: new TextDecoder("utf-8"), stderr: new TextDecoder("utf-8") };
  let gone = false;
  let pushed = false;
  // The pending pause handed to the adapter; settled when the queue has room again.
  let room: { promise: Promise<void>; resolve: () => void } | null = null;
  const wake = () => {
    const waiting = room;
    room = null;
    waiting?.resolve();
  };
  // The queue exists from the start (the client gets it once the response commits), so the lines
  // written before that are bounded the same way.
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        wake();
      },
      cancel() {
        gone = true;
        wake();
        stream.onClientGone?.();
      },
    },
    { highWaterMark: highWaterBytes, size: (chunk) => chunk.byteLength },
  );
  const push = (line: unknown) => {
    if (gone) return;
    controller.enqueue(encoder.encode(`${JSON.stringify(line)}\n`));
    pushed = true;
  };
  const backpressure = (): Promise<void> | undefined => {
    if (gone || (controller.desiredSize ?? 0) > 0) return undefined;
    if (!room) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      room = { promise, resolve };
    }
    return room.promise;
  };
  let signalFirst: () => void = () => {};
  const first = new Promise<void>((resolve) => (signalFirst = resolve));

  const outcome = command
    .exec(argv, {
      ...options,
      maxOutputBytes: 0,
      onOutput: (stream, chunk) => {
        signalFirst();
        if (gone) return undefined;
        const data = decoders[stream].decode(chunk, { stream: true });
        if (data) push({ stream, data });
        return backpressure();
      },
    })
    .then(
      (result) => ({ result }) as const,
      (error: unknown) => ({ error }) as const,
    );

  let timer: NodeJS.Timeout | undefined;
  const early = await Promise.race([outcome, first.then(() => null), new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), commitAfterMs)))]);
  clearTimeout(timer);
  if (early && "error" in early && !pushed) throw early.error;

  void outcome.then((o) => {
    if (gone) return;
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = decoders[stream].decode();
      if (rest) push({ stream, data: rest });
    }
    if ("result" in o) {
      const { stdout: _out, stderr: _err, ...rest } = o.result;
      push({ exit: { ...rest, stdoutTruncated: false, stderrTruncated: false, cancelled: rest.cancelled ?? false } });
    } else {
      push({ error: errorLine(o.error, stream.onInternalError) });
    }
    controller.close();
  });

  return body;
}

/** How many bytes of lines wait for a slow client before the command is paused. */
export const DEFAULT_HIGH_WATER_BYTES = 1024 * 1024;

export const EXEC_STREAM_HEADERS = { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" };

function errorLine(error: unknown, onInternalError: ((error: unknown) => void) | undefined): { code: string; message: string } {
  if (error instanceof DomainError) return { code: error.code, message: error.message };
  onInternalError?.(error);
  return { code: "internal", message: "internal error" };
}
