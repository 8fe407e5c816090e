import type { RateLimitClass } from "./access-policy";

/** A token bucket: `burst` requests at once, refilled at `perSecond`. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** Null turns a class off. Generous: they stop a runaway loop, not a busy CI. */
export type RateLimits = Record<RateLimitClass, RateLimit | null>;

export const DEFAULT_RATE_LIMITS: RateLimits = {
  leases: { perSecond: 50, burst: 200 },
  commands: { perSecond: 100, burst: 400 },
};

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before full ones (idle tokens) are dropped; a full bucket is the same as none. */
const PRUNE_AT = 10_000;

/**
 * Token buckets per (bearer token, class), in this process's memory. With several Drydock
 * processes behind one address, each keeps its own buckets, so a client gets up to the limit
 * from each of them (see README).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: RateLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one request from the bucket; when it is empty, says in how many seconds one is let through. */
  take(key: string, cls: RateLimitClass): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const limit = this.limits[cls];
    if (!limit) return { ok: true };
    const now = this.now();
    const id = `${cls}:${key}`;
    const bucket = this.buckets.get(id) ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
    bucket.at = now;
    if (this.buckets.size >= PRUNE_AT && !this.buckets.has(id)) this.prune(now);
    this.buckets.set(id, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond)) };
  }

  private prune(now: number): void {
    for (const [id, bucket] of this.buckets) {
      const limit = this.limits[id.slice(0, id.indexOf(":")) as RateLimitClass];
      if (!limit || bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond >= limit.burst) this.buckets.delete(id);
    }
  }
}
