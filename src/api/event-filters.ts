import { z } from "@hono/zod-openapi";
import { currentVersionOf } from "../../events/catalogue";
import { ValidationError } from "../domain/errors";
import type { LogCheckpoint, LogFilter } from "../store/event-store";
import { LOG_START } from "../store/event-store";
import { ownerString } from "./params";

/**
 * Query parameters that narrow the global log (GET /v1/events and its SSE stream), and the
 * cursor both use: "<transactionId>:<position>", the store's checkpoint. Everything is bounded
 * and checked here, so a bad value is a 400 naming the parameter, never a driver error.
 */
export const cursorPattern = /^\d{1,19}:\d{1,15}$/;
/**
 * Where a reader may start: a cursor, or "0" (or nothing) for the start of the log. Reading from
 * the beginning is the first thing anyone tries, so it takes no cursor from an earlier read.
 */
export const startPattern = /^(?:0?|\d{1,19}:\d{1,15})$/;
export const NOT_A_CURSOR = "not a cursor (<transactionId>:<position>, or 0 for the start of the log)";
const streamIdPattern = /^[a-z]+-[a-z]{2}_[0-9a-z]{1,40}$/;
const MAX_LISTED = 50;

function commaList(what: string, valid: (item: string) => string | null) {
  return z
    .string()
    .max(4000)
    .superRefine((value, ctx) => {
      const items = value.split(",");
      if (items.length > MAX_LISTED) ctx.addIssue({ code: "custom", message: `at most ${MAX_LISTED} ${what}s` });
      for (const item of items) {
        const problem = valid(item);
        if (problem) {
          ctx.addIssue({ code: "custom", message: problem });
          return;
        }
      }
    });
}

function knownType(type: string): string | null {
  try {
    currentVersionOf(type);
    return null;
  } catch {
    return `unknown event type ${JSON.stringify(type.slice(0, 64))}`;
  }
}

const isoTime = z.string().datetime({ offset: true, message: "an ISO 8601 time with a zone, e.g. 2026-01-01T12:00:00Z" });

export const eventFilterQuery = {
  type: commaList("type", knownType).optional().openapi({ description: "Comma list of event types.", example: "LeaseReleased,LeaseBroken" }),
  stream: commaList("stream", (s) => (streamIdPattern.test(s) ? null : `not a stream id: ${JSON.stringify(s.slice(0, 64))}`))
    .optional()
    .openapi({ description: "Comma list of stream ids (`lease-<id>`, `resource-<id>`, `blueprint-<id>`).", example: "lease-ls_01jc9x8m2q4r7s0t3v5w8y1z" }),
  actor: ownerString.optional().openapi({ description: "Only events appended on behalf of this actor (`metadata.actor`).", example: "alice" }),
  since: isoTime.optional().openapi({ description: "Only events recorded at or after this time.", example: "2026-01-01T00:00:00Z" }),
  until: isoTime.optional().openapi({ description: "Only events recorded before this time.", example: "2026-01-02T00:00:00Z" }),
};

export interface EventFilterQuery {
  type?: string | undefined;
  stream?: string | undefined;
  actor?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

export function logFilterOf(q: EventFilterQuery): LogFilter {
  return {
    ...(q.type ? { types: [...new Set(q.type.split(","))] } : {}),
    ...(q.stream ? { streamIds: [...new Set(q.stream.split(","))] } : {}),
    ...(q.actor ? { actor: q.actor } : {}),
    ...(q.since ? { since: new Date(q.since) } : {}),
    ...(q.until ? { until: new Date(q.until) } : {}),
  };
}

export const afterQuery = z
  .string()
  .regex(startPattern, NOT_A_CURSOR)
  .optional()
  .openapi({ description: "A cursor from `nextCursor` (or an SSE event's id): read what comes after it. `0` or none: from the start of the log.", example: "742:1031" });

/** Digits are bounded by the pattern, so the cursor is a valid xid8 and int8. "0" or none: the start. */
export function parseCursor(cursor: string | undefined, field = "after"): LogCheckpoint {
  if (!cursor || cursor === "0") return LOG_START;
  if (!cursorPattern.test(cursor)) throw new ValidationError(`${field}: ${NOT_A_CURSOR}`, { field });
  const [transactionId, position] = cursor.split(":");
  return { transactionId: String(BigInt(transactionId!)), position: Number(position) };
}

export function cursorOf(checkpoint: LogCheckpoint): string {
  return `${checkpoint.transactionId}:${checkpoint.position}`;
}
