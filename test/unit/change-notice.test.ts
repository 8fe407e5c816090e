import { describe, expect, it } from "vitest";
import { decodeChangeNotice, encodeChangeNotice } from "../../src/store/change-notice";

describe("change notice payloads", () => {
  it("carry their origin as a last pseudo-stream, read back apart from the streams", () => {
    const payload = encodeChangeNotice(["lease-ls_1", "resource-rs_1"], 42, "d-abc");
    expect(payload).toBe("lease-ls_1,resource-rs_1,~d-abc@42");
    expect(decodeChangeNotice(payload)).toEqual({ streams: ["lease-ls_1", "resource-rs_1"], workDueAt: 42, origin: "d-abc" });
    expect(decodeChangeNotice(encodeChangeNotice([], null, "d-abc"))).toEqual({ streams: [], workDueAt: null, origin: "d-abc" });
  });

  it("without an origin read as before, with none", () => {
    expect(decodeChangeNotice(encodeChangeNotice(["lease-ls_1"], null))).toStrictEqual({ streams: ["lease-ls_1"], workDueAt: null });
    expect(decodeChangeNotice("lease-ls_1")).toStrictEqual({ streams: ["lease-ls_1"], workDueAt: 0 });
    // Too many streams to name: everyone looks, whoever sent it (its sender looks too).
    expect(decodeChangeNotice(encodeChangeNotice(Array.from({ length: 1000 }, (_, i) => `lease-ls_${i}`), null, "d-abc"))).toStrictEqual({ streams: "*", workDueAt: 0 });
  });
});
