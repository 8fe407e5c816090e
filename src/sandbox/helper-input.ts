import type { Writable } from "node:stream";
import type { FileData } from "../interfaces/filesystem-interface";

/** The end of a write's input (file-helper.mjs, framed): a frame of length 0. */
const WHOLE = Buffer.alloc(4);

/**
 * Sends a write's content to the file helper's stdin as it comes: each chunk as a frame (its
 * length in 4 bytes, big-endian, then the bytes), then the empty frame that says it is whole,
 * and waits while the pipe is full, so a large upload holds a pipe's worth of it in the service.
 *
 * Never rejects. When `data` fails (its client hung up, it went over its limit), stdin is closed
 * without the empty frame, the helper leaves the file as it was, and the failure is returned as
 * `sourceError` for the caller to answer with. When the helper stops reading first (it refused
 * the path and exited), the feed just ends: the helper's own error says why.
 */
export async function feedFrames(stdin: Writable, data: FileData): Promise<{ sourceError?: unknown }> {
  const source: AsyncIterable<Uint8Array> = data instanceof Uint8Array ? (async function* () { yield data; })() : data;
  const chunks = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await chunks.next();
      } catch (sourceError) {
        return { sourceError };
      }
      if (next.done) break;
      if (next.value.length === 0) continue;
      const header = Buffer.allocUnsafe(4);
      header.writeUInt32BE(next.value.length, 0);
      if (!(await send(stdin, header)) || !(await send(stdin, next.value))) {
        await chunks.return?.();
        return {};
      }
    }
    await send(stdin, WHOLE);
    return {};
  } finally {
    stdin.end();
  }
}

/** Writes `bytes`, waiting for the pipe to drain; false once the reader is gone. */
function send(stdin: Writable, bytes: Uint8Array): Promise<boolean> {
  if (stdin.destroyed || stdin.writableEnded) return Promise.resolve(false);
  if (stdin.write(bytes)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (ok: boolean) => () => {
      stdin.off("drain", drained);
      stdin.off("close", gone);
      stdin.off("error", gone);
      resolve(ok);
    };
    const drained = settle(true);
    const gone = settle(false);
    stdin.on("drain", drained);
    stdin.on("close", gone);
    stdin.on("error", gone);
  });
}
