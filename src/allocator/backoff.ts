/**
 * Exponential backoff with jitter, pure: the random number comes in as data. Full jitter
 * between half and all of the step keeps many waiting leases from retrying in lockstep.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 1000, maxMs: 5 * 60 * 1000 };

export function backoffMs(attempt: number, random01: number, policy: BackoffPolicy = defaultBackoff): number {
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step * (0.5 + random01 / 2));
}

export function retryAt(now: Date, attempt: number, random01: number, policy?: BackoffPolicy, atLeastMs = 0): Date {
  return new Date(now.getTime() + Math.max(atLeastMs, backoffMs(attempt, random01, policy)));
}
