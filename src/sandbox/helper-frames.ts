/**
 * The framing of the kept file helper's pipes (file-helper.mjs, serve mode): each message is 4
 * bytes of length, big-endian, then that many bytes.
 */
export function frame(bytes: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([header, bytes]);
}

/** Exactly n bytes of a stream as they come; null once it ended first. */
export class FrameReader {
  private parts: Buffer[] = [];
  private buffered = 0;
  /** The stream ended (the helper closed its stdout: it is exiting). */
  ended = false;
  private wake: (() => void) | null = null;

  constructor(stream: NodeJS.ReadableStream) {
    stream.on("data", (chunk: Buffer) => {
      this.parts.push(chunk);
      this.buffered += chunk.length;
      this.wake?.();
    });
    stream.on("end", () => this.end());
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async exact(n: number): Promise<Buffer | null> {
    while (this.buffered < n) {
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = all.length > n ? [all.subarray(n)] : [];
    this.buffered -= n;
    return all.subarray(0, n);
  }
}
