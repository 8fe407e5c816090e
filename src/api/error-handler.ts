import type { Context } from "hono";
import { silentLogger, type Logger } from "../service/logger";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { assertNever, DomainError, type DomainErrorCode } from "../domain/errors";

/**
 * The one place errors become HTTP responses: `{error: {code, message, details?}}`.
 * Domain errors carry their own code; anything unexpected is a 500 that says nothing about
 * its cause (the cause goes to stderr, keyed by the request id).
 */
export function statusOf(code: DomainErrorCode): ContentfulStatusCode {
  switch (code) {
    case "validation_failed":
      return 400;
    case "not_found":
      return 404;
    case "transition_refused":
      return 409;
    case "version_conflict":
      return 409;
    case "capacity_conflict":
      return 409;
    case "name_taken":
      return 409;
    case "unsatisfiable":
      return 422;
    case "path_outside_lease":
      return 400;
    case "file_not_found":
      return 404;
    case "interface_unavailable":
      return 503;
    case "unauthorized":
      return 401;
    case "forbidden":
      return 403;
    case "payload_too_large":
      return 413;
    case "rate_limited":
      return 429;
    case "too_many_commands":
      return 429;
    case "too_many_file_transfers":
      return 429;
    case "quota_exceeded":
      return 429;
    default:
      return assertNever(code, "error code");
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown>; requestId?: string };
}

export function errorBody(code: string, message: string, details?: Record<string, unknown>): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Codes for errors Hono raises itself (its validators, its middleware), by status. */
function codeOfHttpStatus(status: number): string {
  if (status === 400) return "validation_failed";
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 413) return "payload_too_large";
  if (status === 415) return "unsupported_media_type";
  return "http_error";
}

// Hono's JSON validator throws this (and nothing more specific) for a body JSON.parse rejects.
const MALFORMED_JSON = /^Malformed JSON/;

export function handleError(error: unknown, c: Context, logger: Logger = silentLogger): Response {
  if (error instanceof DomainError) {
    // RFC 6750: a 401 names the scheme it wants; a 429 says when to come back (RFC 6585).
    if (error.code === "unauthorized") c.header("WWW-Authenticate", 'Bearer realm="drydock"');
    const retryAfter = error.details?.retryAfterSeconds;
    if (error.code === "rate_limited" && typeof retryAfter === "number") c.header("Retry-After", String(retryAfter));
    return c.json(errorBody(error.code, error.message, error.details), statusOf(error.code));
  }
  if (error instanceof HTTPException) {
    if (error.status === 400 && MALFORMED_JSON.test(error.message)) {
      return c.json(errorBody("validation_failed", "body: malformed JSON", { field: "body" }), 400);
    }
    const status = error.status as ContentfulStatusCode;
    return c.json(errorBody(codeOfHttpStatus(status), error.message || "request refused"), status);
  }
  const requestId = c.get("requestId") as string | undefined;
  logger.error({ requestId, method: c.req.method, path: c.req.path, err: error }, "request failed");
  return c.json({ error: { code: "internal", message: "internal error", ...(requestId ? { requestId } : {}) } }, 500);
}
