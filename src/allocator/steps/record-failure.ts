import { classifyFailure, type ClassifiedFailure } from "../../blueprints/failures";
import { retryAt } from "../backoff";
import type { WorkerContext } from "../worker-context";

/** A blueprint effect failed: the event that records it, retry (with backoff) or give up. */
export function failureOutcome(
  ctx: WorkerContext,
  error: unknown,
  failuresSoFar: number,
): { failure: ClassifiedFailure; retryAt: string } {
  const failure = classifyFailure(error, failuresSoFar);
  const at = retryAt(ctx.clock.now(), failuresSoFar + 1, ctx.random(), undefined, failure.retryAfterMs ?? 0);
  return { failure, retryAt: at.toISOString() };
}
