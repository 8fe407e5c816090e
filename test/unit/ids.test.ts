import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { idPattern, randomIds, randomPartOf, timeOrderedIds } from "../../src/domain/ids";

/**
 * Ids carry 48-bit milliseconds and 64 random bits: every one of the 64 bits the generator drew
 * can be read back from the id (none is folded away), and ids sort by the time they were made.
 */

/** A generator whose clock and random bytes the test chooses. */
function fixed(ms: number, bytes: Uint8Array) {
  return timeOrderedIds(() => ms, (n) => {
    expect(n).toBe(8);
    return Buffer.from(bytes);
  });
}

describe("ids", () => {
  it("the random part decodes back to the 8 bytes drawn, for every bit set or cleared", () => {
    const samples: Uint8Array[] = [new Uint8Array(8), new Uint8Array(8).fill(0xff), ...Array.from({ length: 200 }, () => randomBytes(8))];
    for (let bit = 0; bit < 64; bit++) {
      const only = new Uint8Array(8);
      only[bit >> 3] = 1 << (bit & 7);
      samples.push(only, only.map((b) => 0xff ^ b));
    }
    const seen = new Set<string>();
    for (const bytes of samples) {
      const id = fixed(1_700_000_000_000, bytes).next("lease");
      expect(id).toMatch(idPattern);
      expect(id.startsWith("ls_")).toBe(true);
      expect(Buffer.from(randomPartOf(id)).toString("hex"), id).toBe(Buffer.from(bytes).toString("hex"));
      seen.add(id);
    }
    // Distinct bytes, distinct ids: no two of the 64 bits land on the same character bits.
    expect(seen.size).toBe(new Set(samples.map((b) => Buffer.from(b).toString("hex"))).size);
  });

  it("ids made later sort after ids made earlier, whatever their random part", () => {
    const low = new Uint8Array(8);
    const high = new Uint8Array(8).fill(0xff);
    const times = [0, 1, 31, 32, 1_000, 1_700_000_000_000, 1_700_000_000_001, 2 ** 48 - 1];
    const ids: string[] = [];
    for (const ms of times) ids.push(fixed(ms, low).next("resource"), fixed(ms, high).next("resource"));
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(idPattern);
  });

  it("the service's generator makes well-formed, distinct, time-ordered ids", async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push(randomIds.next("token"));
      const before = Date.now();
      while (Date.now() === before) await new Promise((r) => setTimeout(r, 1));
    }
    for (const id of made) expect(id).toMatch(/^tk_[0-9a-z]{23}$/);
    expect([...made].sort()).toEqual(made);
    expect(new Set(made).size).toBe(made.length);
  });
});
