import { describe, expect, it } from "vitest";
import { exactBody } from "../../src/interfaces/file-read";
import { readWhole } from "../support/read-whole-file";

const bytes = (...xs: number[]) => new Uint8Array(xs);
async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}

describe("exactBody", () => {
  it("gives exactly the announced bytes, and releases once at the end", async () => {
    let released = 0;
    const body = exactBody(5, chunks(bytes(1, 2), bytes(3), bytes(4, 5)), () => void released++);
    expect(await readWhole({ size: 5, body })).toEqual(bytes(1, 2, 3, 4, 5));
    expect(released).toBe(1);
  });

  it("cuts a file that grew after it was opened at the announced size", async () => {
    let released = 0;
    const body = exactBody(3, chunks(bytes(1, 2), bytes(3, 4, 5), bytes(6)), () => void released++);
    expect(await readWhole({ size: 3, body })).toEqual(bytes(1, 2, 3));
    expect(released).toBe(1);
  });

  it("fails, never ends, when the source stops short: a short file does not pass for a whole one", async () => {
    let released = 0;
    const body = exactBody(4, chunks(bytes(1, 2)), () => void released++);
    await expect(readWhole({ size: 4, body })).rejects.toThrow("the file changed while it was read: 2 of 4 bytes");
    expect(released).toBe(1);
  });

  it("fails with the source's error, and releases", async () => {
    let released = 0;
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield bytes(1);
      throw new Error("connection lost");
    }
    const body = exactBody(4, failing(), () => void released++);
    await expect(readWhole({ size: 4, body })).rejects.toThrow("connection lost");
    expect(released).toBe(1);
  });

  it("an empty file reads nothing from its source", async () => {
    let pulled = false;
    async function* never(): AsyncGenerator<Uint8Array> {
      pulled = true;
      yield bytes(1);
    }
    expect(await readWhole({ size: 0, body: exactBody(0, never(), () => undefined) })).toEqual(bytes());
    expect(pulled).toBe(false);
  });

  it("a reader that cancels releases at once, even while a read from the source is stuck", async () => {
    let released = 0;
    let unstick = () => {};
    async function* stuck(): AsyncGenerator<Uint8Array> {
      yield bytes(1);
      await new Promise<void>((resolve) => (unstick = resolve));
      yield bytes(2);
    }
    const body = exactBody(2, stuck(), () => {
      released++;
      unstick();
    });
    const reader = body.getReader();
    expect((await reader.read()).value).toEqual(bytes(1));
    const pending = reader.read();
    await new Promise((r) => setTimeout(r, 10));
    await reader.cancel();
    expect(released).toBe(1);
    expect((await pending).done).toBe(true);
  });
});
