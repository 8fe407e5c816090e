import { describe, expect, it } from "vitest";
import { gatherUpTo } from "../../src/sandbox/gather-up-to";

async function* chunks(...parts: (string | Error)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    if (part instanceof Error) throw part;
    yield Buffer.from(part);
  }
}

async function all(source: AsyncIterable<Uint8Array>): Promise<string> {
  const out: Uint8Array[] = [];
  for await (const chunk of source) out.push(chunk);
  return Buffer.concat(out).toString();
}

describe("gatherUpTo: a write's content, kept whole when it is small", () => {
  it("gathers a stream of at most max bytes whole", async () => {
    const got = await gatherUpTo(chunks("abc", "de", ""), 5);
    expect(got.rest).toBeUndefined();
    expect(Buffer.from(got.whole!).toString()).toBe("abcde");
  });

  it("hands on a larger stream from its first byte: what was gathered, then the rest, in order", async () => {
    const got = await gatherUpTo(chunks("abc", "def", "gh", "ij"), 5);
    expect(got.whole).toBeUndefined();
    expect(await all(got.rest!)).toBe("abcdefghij");
  });

  it("takes bytes already in memory as they are, or as a stream of one chunk when too large", async () => {
    const small = Buffer.from("small");
    expect((await gatherUpTo(small, 5)).whole).toBe(small);
    expect(await all((await gatherUpTo(Buffer.from("too large"), 5)).rest!)).toBe("too large");
  });

  it("rejects with the source's failure while gathering, and passes a later one on to the stream", async () => {
    const hungUp = new Error("client hung up");
    await expect(gatherUpTo(chunks("ab", hungUp), 5)).rejects.toBe(hungUp);
    const late = await gatherUpTo(chunks("abcdef", hungUp), 5);
    await expect(all(late.rest!)).rejects.toBe(hungUp);
  });

  it("an empty content is whole and empty", async () => {
    expect((await gatherUpTo(chunks(), 5)).whole!.length).toBe(0);
  });
});
