/**
 * Typed domain errors. Each has a stable code; the HTTP edge maps codes to statuses in one place
 * (src/api/error-handler.ts). Nothing below the API knows about HTTP.
 */
export type DomainErrorCode =
  | "validation_failed"
  | "not_found"
  | "transition_refused"
  | "version_conflict"
  | "capacity_conflict"
  | "name_taken"
  | "unsatisfiable"
  | "path_outside_lease"
  | "file_not_found"
  | "interface_unavailable"
  | "unauthorized"
  | "forbidden"
  | "payload_too_large"
  | "rate_limited"
  | "too_many_commands"
  | "too_many_file_transfers"
  | "quota_exceeded";

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("validation_failed", message, details);
  }
}

export class NotFoundError extends DomainError {
  constructor(kind: string, id: string) {
    super("not_found", `${kind} ${id} not found`, { kind, id });
  }
}

/** A lifecycle machine refused the command; nothing was appended. */
export class TransitionRefusedError extends DomainError {
  constructor(kind: string, id: string, status: string, command: string) {
    super("transition_refused", `cannot ${command} ${kind} ${id}: it is ${status}`, { kind, id, status, command });
  }
}

/** append() found the stream at another version than expected. */
export class VersionConflictError extends DomainError {
  constructor(streamId: string, expected: number, actual: number | null) {
    super("version_conflict", `stream ${streamId} is at version ${actual ?? "none"}, expected ${expected}`, {
      streamId,
      expected,
      actual,
    });
  }
}

/** A slot lock (lease slot on a resource, resource slot on a blueprint) is already held. */
export class CapacityConflictError extends DomainError {
  constructor(locks: readonly string[]) {
    super("capacity_conflict", `slot already taken: ${locks.join(", ")}`, { locks });
  }
}

/** A name already belongs to something the request may not share it with (an owner name of the other role). */
export class NameTakenError extends DomainError {
  constructor(field: string, message: string, details?: Record<string, unknown>) {
    super("name_taken", `${field}: ${message}`, { field, ...details });
  }
}

export class UnsatisfiableError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("unsatisfiable", message, details);
  }
}

export class PathOutsideLeaseError extends DomainError {
  constructor(path: string, why: string) {
    super("path_outside_lease", `path ${JSON.stringify(path)} is refused: ${why}`, { path });
  }
}

export class FileNotFoundError extends DomainError {
  constructor(path: string) {
    super("file_not_found", `no such file: ${path}`, { path });
  }
}

export class InterfaceUnavailableError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("interface_unavailable", message, details);
  }
}

/** No valid bearer token: missing, malformed, unknown or revoked (the response does not say which). */
export class UnauthorizedError extends DomainError {
  constructor(message = "a valid bearer token is required (Authorization: Bearer <token>)") {
    super("unauthorized", message);
  }
}

/** The token is valid but its role or authorizations do not allow this. */
export class ForbiddenError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("forbidden", message, details);
  }
}

/** The lease already runs as many commands as its blueprint allows at once. */
export class TooManyCommandsError extends DomainError {
  constructor(leaseId: string, limit: number) {
    super("too_many_commands", `lease ${leaseId} already runs ${limit} commands, the most its blueprint allows at once; wait for one to finish`, { leaseId, limit });
  }
}

/** The lease already has as many file transfers (reads, uploads) in flight as it may have at once. */
export class TooManyFileTransfersError extends DomainError {
  constructor(leaseId: string, limit: number) {
    super("too_many_file_transfers", `lease ${leaseId} already has ${limit} file reads and uploads in flight, the most it may have at once; wait for one to finish`, { leaseId, limit });
  }
}

/** Too many requests of one kind from one token; `retryAfterSeconds` says when one is let through. */
export class RateLimitedError extends DomainError {
  constructor(what: string, retryAfterSeconds: number) {
    super("rate_limited", `too many ${what} from this token: retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

/** The client holds as many live leases as its quota allows, and asked not to wait (waitIfOverQuota: false). */
export class QuotaExceededError extends DomainError {
  constructor(reason: string, details: Record<string, unknown>) {
    super("quota_exceeded", `${reason}; this request asked not to wait (waitIfOverQuota: false), so nothing was stored`, details);
  }
}

export function assertNever(value: never, what = "value"): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
