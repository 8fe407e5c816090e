import { pooledRandomBytes } from "./random-pool";

/** Ids come into commands as data; this is the source the service uses. */
export interface IdGenerator {
  next(prefix: "lease" | "resource" | "blueprint" | "request" | "token"): string;
}

/** Crockford's base32 (no i, l, o, u), in ASCII order, so ids compare as strings in numeric order. */
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
const TIME_CHARS = 10; // 50 bits: milliseconds up to the year 37648
const RANDOM_BYTES = 8;
const RANDOM_CHARS = 13; // 65 bits: the 64 random bits, the top one always 0

const short = { lease: "ls", resource: "rs", blueprint: "bp", request: "rq", token: "tk" } as const;

/** `value` in base32, left-padded to `chars` characters (fixed width keeps string order = numeric order). */
function base32(value: bigint, chars: number): string {
  let out = "";
  for (let i = 0; i < chars; i++) {
    out = alphabet[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

/**
 * Time-ordered ids: `<prefix>_` then 10 base32 characters of milliseconds since the epoch and 13
 * of 64 random bits. Ids made in a later millisecond sort after earlier ones; within one
 * millisecond, 2^64 random values make a collision as good as impossible. The random bytes are
 * read as one 64-bit number, so no bit is lost (a byte per character would keep only 5 of its 8).
 */
export function timeOrderedIds(now: () => number = Date.now, random: (n: number) => Uint8Array = pooledRandomBytes): IdGenerator {
  return {
    next(prefix) {
      const bytes = random(RANDOM_BYTES);
      let rand = 0n;
      for (const b of bytes) rand = (rand << 8n) | BigInt(b);
      return `${short[prefix]}_${base32(BigInt(now()), TIME_CHARS)}${base32(rand, RANDOM_CHARS)}`;
    },
  };
}

export const randomIds: IdGenerator = timeOrderedIds();

/** The 8 random bytes of an id made by timeOrderedIds (tests and diagnostics). */
export function randomPartOf(id: string): Uint8Array {
  const chars = id.slice(id.indexOf("_") + 1 + TIME_CHARS);
  if (chars.length !== RANDOM_CHARS) throw new Error(`not a time-ordered id: ${id}`);
  let value = 0n;
  for (const c of chars) {
    const digit = alphabet.indexOf(c);
    if (digit < 0) throw new Error(`not a time-ordered id: ${id}`);
    value = (value << 5n) | BigInt(digit);
  }
  if (value >> 64n !== 0n) throw new Error(`not a time-ordered id: ${id}`);
  const bytes = new Uint8Array(RANDOM_BYTES);
  for (let i = RANDOM_BYTES - 1; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

/** Lease, resource and blueprint ids as they appear in URLs. */
export const idPattern = /^[a-z]{2}_[0-9a-z]{1,40}$/;
