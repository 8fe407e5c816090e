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

/**
 * How long a worker step that threw waits before its next try (worker.ts): the policy's backoff
 * for its `failures` in a row, so a step that keeps failing (a teardown a cloud refuses for want of
 * a permission) is tried less and less often. A step that says when to try again (`hintMs`: a host
 * that is down, at its health interval) keeps that pace instead, never sooner than a first retry:
 * the host that answers again then rejoins within one interval, however long it was away.
 */
export function stepRetryMs(failures: number, hintMs: number, random01: number, policy: BackoffPolicy): number {
  return hintMs > 0 ? Math.max(hintMs, backoffMs(1, random01, policy)) : backoffMs(failures, random01, policy);
}
