import type { FileData } from "../interfaces/filesystem-interface";

/**
 * A write's content, gathered while it is no more than `max` bytes: `whole` when all of it came
 * within that, else `rest`, the same content from its first byte (what was gathered, then what
 * is still to come), to be streamed. A content that fails while it is gathered rejects here.
 */
export async function gatherUpTo(data: FileData, max: number): Promise<{ whole: Uint8Array; rest?: undefined } | { whole?: undefined; rest: AsyncIterable<Uint8Array> }> {
  if (data instanceof Uint8Array) return data.length <= max ? { whole: data } : { rest: once(data) };
  const chunks = data[Symbol.asyncIterator]();
  const gathered: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await chunks.next();
    if (next.done) return { whole: gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered) };
    gathered.push(next.value);
    size += next.value.length;
    if (size > max) return { rest: continued(gathered, chunks) };
  }
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function* continued(gathered: Uint8Array[], chunks: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* gathered.splice(0);
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await chunks.return?.();
  }
}
