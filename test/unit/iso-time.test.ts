import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoTime } from "../../src/machines/iso-time";

/** The fold's ISO formatter writes exactly what Date.prototype.toISOString writes. */
describe("isoTime", () => {
  it("equals toISOString for any date, valid or not", () => {
    fc.assert(
      fc.property(fc.date(), (date) => {
        if (Number.isNaN(date.getTime())) expect(() => isoTime(date)).toThrow(RangeError);
        else expect(isoTime(date)).toBe(date.toISOString());
      }),
      { numRuns: 20_000 },
    );
  });

  it("equals toISOString around the edges: years 0 and 9999, leap days, the epoch, each millisecond of a second", () => {
    const edges = [
      "0000-01-01T00:00:00.000Z",
      "0000-02-29T12:00:00.000Z",
      "1899-12-31T23:59:59.999Z",
      "1900-03-01T00:00:00.000Z",
      "1969-12-31T23:59:59.999Z",
      "1970-01-01T00:00:00.000Z",
      "2000-02-29T23:59:59.999Z",
      "2024-02-29T00:00:00.001Z",
      "2100-02-28T23:59:59.999Z",
      "2100-03-01T00:00:00.000Z",
      "9999-12-31T23:59:59.999Z",
    ].map((s) => new Date(s).getTime());
    const around = edges.flatMap((ms) => [ms - 86_400_000, ms - 1, ms, ms + 1, ms + 86_400_000]);
    const second = Array.from({ length: 1000 }, (_, i) => Date.UTC(2026, 10, 26, 8, 42, 26) + i);
    for (const ms of [...around, ...second, -62167219200001, 253402300800000, -8.64e15, 8.64e15]) {
      expect(isoTime(new Date(ms))).toBe(new Date(ms).toISOString());
    }
  });
});
