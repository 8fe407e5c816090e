import { DomainError } from "../domain/errors";
import type { CommandInterface, ExecOptions } from "../interfaces/command-interface";

/**
 * `POST /v1/leases/{id}/commands?stream=1`: the command's output as it happens, one JSON object
 * per line (application/x-ndjson):
 *
 *   {"stream":"stdout","data":"..."}          any number, in the order the bytes arrived
 *   {"exit":{"exitCode":0,"signal":null,...}} last: the ExecResult without stdout and stderr
 *   {"error":{"code":"...","message":"..."}}  last instead, if the command could not finish
 *
 * A request the command refuses at once (a bad cwd, a lease that cannot be reached) still gets
 * its ordinary JSON error and status: the response commits to 200 only once the command has
 * printed something, finished, or run for `commitAfterMs`.
 *
 * Nothing is kept in memory beyond what the client has not read yet (maxOutputBytes 0), and
 * nothing is dropped, so the exit line reports no truncation. `data` is UTF-8 decoded per
 * stream, without splitting a character across lines; bytes that are not UTF-8 become U+FFFD.
 * A client that disconnects does not stop the command: it runs to its end or its timeout.
 */
export async function execStream(
  command: CommandInterface,
  argv: readonly string[],
  options: ExecOptions,
  commitAfterMs = 1_000,
): Promise<ReadableStream<Uint8Array>> {
  const encoder = new TextEncoder();
  const decoders = { stdout: new TextDecoder("utf-8"), stderr: new TextDecoder("utf-8") };
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  const pending: Uint8Array[] = [];
  let done = false;
  let gone = false;
  const push = (line: unknown) => {
    const bytes = encoder.encode(`${JSON.stringify(line)}\n`);
    if (!controller) pending.push(bytes);
    else if (!gone) controller.enqueue(bytes);
  };
  let signalFirst: () => void = () => {};
  const first = new Promise<void>((resolve) => (signalFirst = resolve));

  const outcome = command
    .exec(argv, {
      ...options,
      maxOutputBytes: 0,
      onOutput: (stream, chunk) => {
        const data = decoders[stream].decode(chunk, { stream: true });
        if (data) push({ stream, data });
        signalFirst();
      },
    })
    .then(
      (result) => ({ result }) as const,
      (error: unknown) => ({ error }) as const,
    );

  let timer: NodeJS.Timeout | undefined;
  const early = await Promise.race([outcome, first.then(() => null), new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), commitAfterMs)))]);
  clearTimeout(timer);
  if (early && "error" in early && pending.length === 0) throw early.error;

  void outcome.then((o) => {
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = decoders[stream].decode();
      if (rest) push({ stream, data: rest });
    }
    if ("result" in o) {
      const { stdout: _out, stderr: _err, ...rest } = o.result;
      push({ exit: { ...rest, stdoutTruncated: false, stderrTruncated: false } });
    } else {
      push({ error: errorLine(o.error) });
    }
    done = true;
    if (controller && !gone) controller.close();
  });

  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      for (const bytes of pending.splice(0)) c.enqueue(bytes);
      if (done) c.close();
    },
    cancel() {
      gone = true;
    },
  });
}

export const EXEC_STREAM_HEADERS = { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" };

function errorLine(error: unknown): { code: string; message: string } {
  if (error instanceof DomainError) return { code: error.code, message: error.message };
  console.error("[drydock api] streamed command failed:", error);
  return { code: "internal", message: "internal error" };
}
