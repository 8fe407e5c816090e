/**
 * Provider errors sorted into temporary (retry with backoff) and permanent (break the lease or
 * resource with the reason). An error of unknown kind counts as temporary, but only a few times:
 * a bug must not keep a lease waiting for ever (Drydock rebuilt such resources without end).
 */
export class TemporaryFailure extends Error {
  constructor(
    message: string,
    readonly code = "temporary",
    /** A provider's hint (quota reset, Retry-After); the backoff never waits less. */
    readonly retryAfterMs?: number,
    readonly scope?: FailureScope,
  ) {
    super(message);
    this.name = "TemporaryFailure";
  }
}

/**
 * The provider has nothing to build this resource with now (EC2: no capacity for any instance
 * type or subnet, or the account's instance quota is spent). Retrying the same blueprint at once
 * only hits the same wall, so the resource gives up its build, its leases go back to the
 * allocator to land on another blueprint that can serve them, and the blueprint records the
 * shortage (BlueprintTargetFailed, cause "shortage") and builds nothing until it is due again.
 * `scope.target` names what ran short (the launch settings); `configuration` is false.
 */
export class CapacityShortage extends TemporaryFailure {
  constructor(message: string, code: string, retryAfterMs: number, scope: FailureScope) {
    super(message, code, retryAfterMs, scope);
    this.name = "CapacityShortage";
  }
}

export class PermanentFailure extends Error {
  constructor(
    message: string,
    readonly code = "permanent",
    readonly scope?: FailureScope,
  ) {
    super(message);
    this.name = "PermanentFailure";
  }
}

/**
 * Whose failure it is, when it is not the lease's own: the resource's target (a host) failed.
 * Such a failure counts against the resource whichever lease saw it, and a configuration error
 * is recorded on the blueprint so that nothing retries the same wall (resource-failures.ts).
 */
export interface FailureScope {
  /** The part of the blueprint's config that failed: a host's name. */
  target: string;
  /** Only a config change (or a fix on the target itself) helps: a wrong host key, an unreadable key, refused authentication, a missing command. */
  configuration: boolean;
}

/** A resource-level failure as reported to the resource (BlueprintEffects.reportResourceFailure). */
export interface ResourceFailureReport extends FailureScope {
  code: string;
  message: string;
}

export interface ClassifiedFailure {
  kind: "temporary" | "permanent";
  code: string;
  message: string;
  retryAfterMs?: number;
  scope?: FailureScope;
  /** A CapacityShortage: the blueprint has nothing to build with now (never permanent by count). */
  shortage?: true;
}

/** Failures of unknown kind in a row before a step gives up and breaks. */
export const MAX_UNKNOWN_FAILURES = 5;
/** Temporary failures in a row before a step gives up and breaks. */
export const MAX_TEMPORARY_FAILURES = 20;

export function classifyFailure(error: unknown, failuresSoFar: number): ClassifiedFailure {
  if (error instanceof PermanentFailure) return { kind: "permanent", code: error.code, message: error.message, ...(error.scope ? { scope: error.scope } : {}) };
  if (error instanceof CapacityShortage) {
    // A shortage ends the build at once (the lease moves on), so it never piles up into a permanent failure.
    return { kind: "temporary", code: error.code, message: error.message, retryAfterMs: error.retryAfterMs ?? 0, ...(error.scope ? { scope: error.scope } : {}), shortage: true };
  }
  if (error instanceof TemporaryFailure) {
    const kind = failuresSoFar + 1 >= MAX_TEMPORARY_FAILURES ? "permanent" : "temporary";
    return { kind, code: error.code, message: error.message, ...(error.retryAfterMs ? { retryAfterMs: error.retryAfterMs } : {}), ...(error.scope ? { scope: error.scope } : {}) };
  }
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown })?.code;
  return {
    kind: failuresSoFar + 1 >= MAX_UNKNOWN_FAILURES ? "permanent" : "temporary",
    code: typeof code === "string" ? code : "error",
    message,
  };
}
