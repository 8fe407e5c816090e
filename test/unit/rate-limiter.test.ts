import { describe, expect, it } from "vitest";
import { RateLimiter } from "../../src/auth/rate-limiter";

function limiterAt(limits: ConstructorParameters<typeof RateLimiter>[0]) {
  let now = 0;
  const limiter = new RateLimiter(limits, () => now);
  return { limiter, advance: (ms: number) => (now += ms) };
}

describe("per-token rate limiter (token buckets)", () => {
  it("lets a burst through, then one request per 1/rate seconds, saying when to retry", () => {
    const { limiter, advance } = limiterAt({ leases: { perSecond: 2, burst: 3 }, commands: null });
    for (let i = 0; i < 3; i++) expect(limiter.take("tk_a", "leases")).toEqual({ ok: true });
    expect(limiter.take("tk_a", "leases")).toEqual({ ok: false, retryAfterSeconds: 1 });
    advance(499);
    expect(limiter.take("tk_a", "leases").ok).toBe(false);
    advance(1);
    expect(limiter.take("tk_a", "leases").ok).toBe(true);
    expect(limiter.take("tk_a", "leases").ok).toBe(false);
    advance(10_000);
    for (let i = 0; i < 3; i++) expect(limiter.take("tk_a", "leases").ok).toBe(true);
    expect(limiter.take("tk_a", "leases").ok).toBe(false);
  });

  it("keeps one bucket per token and per class; a class without a limit is never refused", () => {
    const { limiter } = limiterAt({ leases: { perSecond: 1, burst: 1 }, commands: null });
    expect(limiter.take("tk_a", "leases").ok).toBe(true);
    expect(limiter.take("tk_a", "leases").ok).toBe(false);
    expect(limiter.take("tk_b", "leases").ok).toBe(true);
    for (let i = 0; i < 1000; i++) expect(limiter.take("tk_a", "commands").ok).toBe(true);
  });

  it("rounds Retry-After up to whole seconds, at least 1", () => {
    const { limiter } = limiterAt({ leases: { perSecond: 0.1, burst: 1 }, commands: null });
    limiter.take("tk_a", "leases");
    expect(limiter.take("tk_a", "leases")).toEqual({ ok: false, retryAfterSeconds: 10 });
  });

  it("forgets idle (full) buckets when it holds many, and still limits busy ones", () => {
    const { limiter, advance } = limiterAt({ leases: { perSecond: 1, burst: 1 }, commands: null });
    for (let i = 0; i < 10_000; i++) limiter.take(`idle-${i}`, "leases");
    advance(2_000);
    expect(limiter.take("busy", "leases").ok).toBe(true);
    for (let i = 0; i < 10; i++) limiter.take(`new-${i}`, "leases");
    const size = (limiter as unknown as { buckets: Map<string, unknown> }).buckets.size;
    expect(size).toBeLessThan(100);
    expect(limiter.take("busy", "leases").ok).toBe(false);
  });
});
