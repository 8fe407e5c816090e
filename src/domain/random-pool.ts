import { randomBytes, randomFillSync } from "node:crypto";

/** Bytes drawn from the CSPRNG at a time. */
const BLOCK = 4096;

/**
 * Random bytes for ids, drawn from the operating system's CSPRNG a block at a time, as Node's
 * own randomUUID does: one randomFillSync per 4 KiB rather than one randomBytes call per id. The
 * two such calls of a lease acquire (its id, its request's id) were the service thread's largest
 * single cost outside the drivers (about 1 % of a cycle). Each byte is handed out once, and a
 * block is never refilled: every buffer returned keeps its bytes.
 */
export class RandomPool {
  private block: Buffer = Buffer.alloc(0);
  private offset = 0;

  constructor(private readonly fill: (buffer: Buffer) => Buffer = randomFillSync) {}

  bytes(n: number): Buffer {
    if (n > BLOCK / 4) return randomBytes(n);
    if (this.offset + n > this.block.length) {
      this.block = this.fill(Buffer.allocUnsafe(BLOCK));
      this.offset = 0;
    }
    return this.block.subarray(this.offset, (this.offset += n));
  }
}

const pool = new RandomPool();

/** `n` random bytes from the process's pool (RandomPool). */
export function pooledRandomBytes(n: number): Buffer {
  return pool.bytes(n);
}
