import { describe, expect, it } from "vitest";
import { backoffMs, defaultBackoff, retryAt, stepRetryMs, type BackoffPolicy } from "../../src/allocator/backoff";

const policy: BackoffPolicy = { baseMs: 1000, maxMs: 60_000 };
/** The largest value Math.random can return: "all of the step". */
const ALMOST_ONE = 1 - Number.EPSILON;

describe("backoffMs", () => {
  it("doubles the step with each attempt (full jitter end)", () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffMs(a, ALMOST_ONE, policy))).toEqual([1000, 2000, 4000, 8000, 16000]);
  });

  it("treats attempt 0 (and below) as the first attempt", () => {
    expect(backoffMs(0, ALMOST_ONE, policy)).toBe(1000);
    expect(backoffMs(-3, ALMOST_ONE, policy)).toBe(1000);
  });

  it("is bounded by maxMs, however many attempts", () => {
    expect(backoffMs(7, ALMOST_ONE, policy)).toBe(60_000); // 64 s step, capped
    expect(backoffMs(50, ALMOST_ONE, policy)).toBe(60_000);
    expect(backoffMs(5000, ALMOST_ONE, policy)).toBe(60_000); // 2 ** 4999 is Infinity
    for (let attempt = 1; attempt <= 40; attempt++) {
      for (const r of [0, 0.25, 0.5, 0.75, ALMOST_ONE]) expect(backoffMs(attempt, r, policy)).toBeLessThanOrEqual(policy.maxMs);
    }
  });

  it("jitters between half and all of the step", () => {
    expect(backoffMs(3, 0, policy)).toBe(2000); // half of 4 s
    expect(backoffMs(3, 0.5, policy)).toBe(3000); // three quarters
    expect(backoffMs(3, ALMOST_ONE, policy)).toBe(4000); // all
    expect(backoffMs(50, 0, policy)).toBe(30_000); // half of the capped step
    for (let attempt = 1; attempt <= 10; attempt++) {
      const step = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
      for (let i = 0; i <= 20; i++) {
        const ms = backoffMs(attempt, i / 20, policy);
        expect(ms).toBeGreaterThanOrEqual(step / 2);
        expect(ms).toBeLessThanOrEqual(step);
      }
    }
  });

  it("grows monotonically with the random number for a fixed attempt", () => {
    let previous = -1;
    for (let i = 0; i <= 100; i++) {
      const ms = backoffMs(4, i / 100, policy);
      expect(ms).toBeGreaterThanOrEqual(previous);
      previous = ms;
    }
  });

  it("returns whole milliseconds", () => {
    expect(Number.isInteger(backoffMs(2, 0.3333, { baseMs: 7, maxMs: 1000 }))).toBe(true);
  });

  it("uses the default policy: 1 s base, 5 min cap", () => {
    expect(defaultBackoff).toEqual({ baseMs: 1000, maxMs: 300_000 });
    expect(backoffMs(1, ALMOST_ONE)).toBe(1000);
    expect(backoffMs(100, ALMOST_ONE)).toBe(300_000);
    expect(backoffMs(100, 0)).toBe(150_000);
  });
});

describe("retryAt", () => {
  const now = new Date("2024-05-01T10:00:00.000Z");

  it("is now plus the backoff", () => {
    expect(retryAt(now, 3, 0, policy)).toEqual(new Date(now.getTime() + 2000));
    expect(retryAt(now, 3, ALMOST_ONE, policy)).toEqual(new Date(now.getTime() + 4000));
    expect(retryAt(now, 1, ALMOST_ONE)).toEqual(new Date(now.getTime() + 1000));
  });

  it("never waits less than atLeastMs", () => {
    expect(retryAt(now, 1, 0, policy, 45_000)).toEqual(new Date(now.getTime() + 45_000));
    // A provider hint beyond maxMs still wins: the cap bounds the backoff, not the hint.
    expect(retryAt(now, 50, ALMOST_ONE, policy, 120_000)).toEqual(new Date(now.getTime() + 120_000));
  });

  it("ignores atLeastMs when the backoff is longer", () => {
    expect(retryAt(now, 5, ALMOST_ONE, policy, 100)).toEqual(new Date(now.getTime() + 16_000));
    expect(retryAt(now, 5, ALMOST_ONE, policy, 0)).toEqual(new Date(now.getTime() + 16_000));
  });

  it("does not change now", () => {
    const before = now.getTime();
    retryAt(now, 3, 0.5, policy, 10);
    expect(now.getTime()).toBe(before);
  });
});

describe("stepRetryMs: a failed worker step's wait", () => {
  it("doubles with each failure in a row, up to the maximum", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => stepRetryMs(n, 0, ALMOST_ONE, policy))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60_000, 60_000]);
  });

  it("keeps the pace a step asks for (a host's health interval), however many failures, never sooner than a first retry", () => {
    expect([1, 5, 50].map((n) => stepRetryMs(n, 30_000, ALMOST_ONE, policy))).toEqual([30_000, 30_000, 30_000]);
    expect([1, 5, 50].map((n) => stepRetryMs(n, 200, ALMOST_ONE, policy))).toEqual([1000, 1000, 1000]);
  });
});
