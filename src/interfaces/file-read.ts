/**
 * The body of a file read (filesystem-interface.ts, FileRead), shared by every adapter: bytes
 * pulled from `source` one chunk at a time as the reader asks for them, exactly `size` of them.
 *
 * Invariants:
 * - never more than `size` bytes: a file that grew after it was opened is cut at the size the
 *   read announced (the HTTP answer's Content-Length);
 * - fewer is an error, not an end: a file that shrank, or a source that stopped early (a helper
 *   killed with its lease, a dropped connection), fails the body, so the answer is cut short
 *   and its reader sees a broken transfer instead of a short file;
 * - `release` runs once, whichever way the body ends: read to the end, failed, or cancelled by
 *   its reader (a client that went away).
 */
export function exactBody(size: number, source: AsyncIterable<Uint8Array>, release: () => void | Promise<void>): ReadableStream<Uint8Array> {
  const chunks = source[Symbol.asyncIterator]();
  let sent = 0;
  let released = false;
  const finish = async () => {
    if (released) return;
    released = true;
    await release();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (sent === size) {
          await chunks.return?.();
          await finish();
          controller.close();
          return;
        }
        const next = await chunks.next();
        if (next.done) {
          await finish();
          controller.error(new Error(`the file changed while it was read: ${sent} of ${size} bytes`));
          return;
        }
        const chunk = next.value.length > size - sent ? next.value.subarray(0, size - sent) : next.value;
        sent += chunk.length;
        if (chunk.length > 0) controller.enqueue(chunk);
      } catch (error) {
        await finish().catch(() => undefined);
        controller.error(error);
      }
    },
    async cancel() {
      // What holds the read goes first: the source's return waits for a read in flight, which a
      // stuck source (a helper blocked on its disk) might never finish on its own.
      await finish();
      await chunks.return?.().catch(() => undefined);
    },
  });
}

/** The source of an empty file's body. */
export const NO_BYTES: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };
