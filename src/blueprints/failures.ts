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
  ) {
    super(message);
    this.name = "TemporaryFailure";
  }
}

export class PermanentFailure extends Error {
  constructor(
    message: string,
    readonly code = "permanent",
  ) {
    super(message);
    this.name = "PermanentFailure";
  }
}

export interface ClassifiedFailure {
  kind: "temporary" | "permanent";
  code: string;
  message: string;
  retryAfterMs?: number;
}

/** Failures of unknown kind in a row before a step gives up and breaks. */
export const MAX_UNKNOWN_FAILURES = 5;
/** Temporary failures in a row before a step gives up and breaks. */
export const MAX_TEMPORARY_FAILURES = 20;

export function classifyFailure(error: unknown, failuresSoFar: number): ClassifiedFailure {
  if (error instanceof PermanentFailure) return { kind: "permanent", code: error.code, message: error.message };
  if (error instanceof TemporaryFailure) {
    const kind = failuresSoFar + 1 >= MAX_TEMPORARY_FAILURES ? "permanent" : "temporary";
    return { kind, code: error.code, message: error.message, ...(error.retryAfterMs ? { retryAfterMs: error.retryAfterMs } : {}) };
  }
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown })?.code;
  return {
    kind: failuresSoFar + 1 >= MAX_UNKNOWN_FAILURES ? "permanent" : "temporary",
    code: typeof code === "string" ? code : "error",
    message,
  };
}
