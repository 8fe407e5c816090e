import { describe, expect, it } from "vitest";
import { pooledRandomBytes, RandomPool } from "../../src/domain/random-pool";

/** A fill that writes a running counter, so every byte the pool hands out can be told apart. */
function countingFill() {
  let next = 0;
  const fills: number[] = [];
  const fill = (buffer: Buffer) => {
    fills.push(buffer.length);
    for (let i = 0; i < buffer.length; i += 4) buffer.writeUInt32BE(next++, i);
    return buffer;
  };
  return { fill, fills };
}

describe("RandomPool", () => {
  it("draws from the CSPRNG once per 4 KiB, never hands a byte out twice, and never changes a buffer it handed out", () => {
    const { fill, fills } = countingFill();
    const pool = new RandomPool(fill);
    const drawn = Array.from({ length: 1025 }, () => pool.bytes(8));
    // 512 draws of 8 bytes fill a block; the 513th and 1025th start new ones.
    expect(fills).toEqual([4096, 4096, 4096]);
    const copies = drawn.map((b) => Buffer.from(b).toString("hex"));
    expect(new Set(copies).size).toBe(drawn.length);
    // Buffers from the first block still hold their bytes after two refills.
    expect(drawn.map((b) => b.toString("hex"))).toEqual(copies);
    expect(drawn[0]!.toString("hex")).toBe("0000000000000001");
    expect(drawn[512]!.toString("hex")).toBe("0000040000000401");
  });

  it("a draw that does not fit what is left of a block starts a new one", () => {
    const { fill, fills } = countingFill();
    const pool = new RandomPool(fill);
    for (let i = 0; i < 455; i++) pool.bytes(9); // 4095 bytes
    expect(fills).toHaveLength(1);
    const next = pool.bytes(9);
    expect(fills).toHaveLength(2);
    expect(next.toString("hex")).toBe("000004000000040100");
  });

  it("large draws go to the CSPRNG directly, with the length asked", () => {
    const { fill, fills } = countingFill();
    const pool = new RandomPool(fill);
    expect(pool.bytes(2048)).toHaveLength(2048);
    expect(fills).toEqual([]);
  });

  it("the process's pool gives distinct bytes across many blocks", () => {
    const seen = new Set(Array.from({ length: 20_000 }, () => pooledRandomBytes(8).toString("hex")));
    expect(seen.size).toBe(20_000);
  });
});
