import { z } from "@hono/zod-openapi";
import type { RecordedEvent } from "../../events/envelope";

/**
 * Response schemas: what /openapi.json documents. They mirror the query records
 * (src/queries/*) and the event envelope; handlers return those records as they are.
 */

const isoTime = z.string().openapi({ format: "date-time", example: "2025-01-01T12:00:00.000Z" });
const jsonObject = z.record(z.string(), z.unknown());

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "validation_failed" }),
      message: z.string().openapi({ example: "resourceType: Required" }),
      details: jsonObject.optional(),
      requestId: z.string().optional().openapi({ description: "Only on 500s: quote it when reporting the problem." }),
    }),
  })
  .openapi("Error");

export const LeaseSchema = z
  .object({
    id: z.string().openapi({ example: "ls_01jc9x8m2q4r7s0t3v5w8y1z" }),
    resourceType: z.string().openapi({ example: "host" }),
    status: z.string().openapi({ description: "pending | acquired | active | released | broken | destroyed", example: "active" }),
    owner: z.string(),
    ownerResourceId: z.string().nullable(),
    attributes: jsonObject,
    blueprintIds: z.array(z.string()).nullable(),
    priority: z.number().int().openapi({ description: "Queue order: waiting leases are served higher priority first, then oldest first.", example: 0 }),
    resourceId: z.string().nullable(),
    blueprintId: z.string().nullable(),
    expiresAt: isoTime.nullable().openapi({ description: "When the system releases the lease (reason `expired`) unless it is renewed; null: no TTL." }),
    ttlSeconds: z.number().int().nullable().openapi({ description: "The lease's current TTL; null: it lives until released.", example: 3600 }),
    ttlSource: z.enum(["request", "client", "blueprint", "service", "renewal"]).openapi({
      description: "What set the TTL: the request, the token's default, the blueprint's default (counted from acquisition), the service's default (counted from the request), or a renewal.",
      example: "service",
    }),
    waitReason: z.string().nullable(),
    retryAt: isoTime.nullable(),
    endReason: z.string().nullable().openapi({ example: "expired: its TTL ended at 2025-01-01T12:00:00.000Z" }),
    requestedAt: isoTime,
    acquiredAt: isoTime.nullable(),
    activatedAt: isoTime.nullable(),
    endedAt: isoTime.nullable(),
    version: z.number().int(),
  })
  .openapi("Lease");

export const ResourceSchema = z
  .object({
    id: z.string().openapi({ example: "rs_01jc9x8m2q4r7s0t3v5w8y1z" }),
    blueprintId: z.string(),
    resourceType: z.string(),
    status: z.string().openapi({ description: "pending | active | released | broken | destroyed", example: "active" }),
    attributes: jsonObject,
    leaseSlots: z.number().int(),
    liveLeases: z.number().int(),
    endReason: z.string().nullable(),
    suspectReason: z.string().nullable().openapi({ description: "Why a lease's failure made it suspect: it takes no new lease until a health check (run at once) clears or breaks it." }),
    hold: z
      .object({
        reason: z.string(),
        until: isoTime.nullable().openapi({ description: "When the hold ends by itself; null: when an admin releases it." }),
        by: z.string().openapi({ description: "The admin who put it on, or `lease <id>` for a lease's holdOnFailure." }),
        leaseId: z.string().nullable(),
        since: isoTime,
      })
      .nullable()
      .openapi({ description: "The hold on it: it takes no new lease and is not destroyed until the hold is released or ends." }),
    failingStep: z
      .object({
        step: z.string().openapi({ description: "The step that fails: `destroy` (its teardown), `activate`, …", example: "destroy" }),
        failures: z.number().int().openapi({ description: "Failures in a row since the resource last changed; the wait before the next try doubles with each, up to 10 minutes." }),
        lastError: z.string(),
        lastFailedAt: isoTime,
        nextAttemptAt: isoTime.nullable().openapi({ description: "When it is tried next; null: it is being tried now." }),
      })
      .nullable()
      .openapi({ description: "Its next step has failed since it last changed (a teardown the provider refuses, a host that does not answer). Current state only: null in `asOf` answers." }),
    allocatedAt: isoTime,
    activatedAt: isoTime.nullable(),
    endedAt: isoTime.nullable(),
    idleSince: isoTime.nullable(),
    version: z.number().int(),
  })
  .openapi("Resource");

export const BlueprintSchema = z
  .object({
    id: z.string().openapi({ example: "bp_01jc9x8m2q4r7s0t3v5w8y1z" }),
    name: z.string(),
    kind: z.string().openapi({ example: "local-host" }),
    resourceType: z.string(),
    config: jsonObject.openapi({ description: "References to secrets (env var names, paths), never secrets." }),
    resourceLimit: z.number().int().nullable(),
    maxLeaseSeconds: z.number().int().nullable().openapi({ description: "No lease of this blueprint expires later than its request time plus this (renewals are cut to it); null: no cap." }),
    minReady: z.number().int().nullable().openapi({ description: "The warm pool: resources kept ready (booting, or active with a free slot); null: none." }),
    maxLeasesPerResource: z.number().int().nullable().openapi({ description: "Leases a resource serves before it is recycled; null: no limit." }),
    maxAgeSeconds: z.number().int().nullable().openapi({ description: "Seconds a resource stays in service (from its activation) before it is recycled; null: no limit." }),
    idleDestroySeconds: z.number().int().nullable().openapi({ description: "An active resource idle this long is released, never below minReady; null: kept." }),
    enabled: z.boolean(),
    liveResources: z.number().int(),
    failingTargets: z
      .array(
        z.object({
          target: z.string().openapi({ description: "The part of the config that failed: a host's name, or `launch` (a cloud blueprint's launch settings)." }),
          cause: z.enum(["configuration", "shortage"]).optional().openapi({ description: "`shortage`: the provider had no capacity (temporary; leases go to other blueprints meanwhile). Absent: a configuration error." }),
          code: z.string().openapi({ example: "host_key_mismatch" }),
          message: z.string(),
          failures: z.number().int().openapi({ description: "Failures in a row." }),
          since: isoTime,
          retryAt: isoTime.openapi({ description: "Tried again then, unless the config changes first (PATCH clears every record)." }),
        }),
      )
      .openapi({ description: "Configuration errors and capacity shortages: nothing is built on these targets until the config changes or `retryAt`." }),
    createdAt: isoTime,
    updatedAt: isoTime,
    version: z.number().int(),
  })
  .openapi("Blueprint");

export const EventSchema = z
  .object({
    globalPosition: z.number().int(),
    eventId: z.string(),
    streamId: z.string().openapi({ example: "lease-ls_01jc9x8m2q4r7s0t3v5w8y1z" }),
    streamVersion: z.number().int(),
    type: z.string().openapi({ example: "LeaseRequested" }),
    version: z.number().int().openapi({ description: "Schema version of `data`." }),
    data: z.unknown(),
    metadata: z.object({
      actor: z.string().openapi({ description: "The token owner who made the request, `system`, or `allocator:<worker>`." }),
      tokenId: z.string().optional().openapi({ description: "The id of the token the request came with (never the token)." }),
      requestId: z.string().optional(),
      correlationId: z.string().optional(),
      causationId: z.string().optional(),
    }),
    recordedAt: isoTime,
  })
  .openapi("Event");

export type EventJson = z.infer<typeof EventSchema>;

export function eventJsonOf(e: RecordedEvent): EventJson {
  return {
    globalPosition: e.globalPosition,
    eventId: e.eventId,
    streamId: e.streamId,
    streamVersion: e.streamVersion,
    type: e.type,
    version: e.version,
    data: e.data,
    metadata: e.metadata,
    recordedAt: e.recordedAt.toISOString(),
  };
}

export const EventListSchema = z.object({ items: z.array(EventSchema) }).openapi("EventList");

/** A page of a list, newest first; pass `nextCursor` back as `cursor` until it is null. */
function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);
}

export const LeasePageSchema = pageOf(LeaseSchema, "LeasePage");
export const ResourcePageSchema = pageOf(ResourceSchema, "ResourcePage");
export const BlueprintPageSchema = pageOf(BlueprintSchema, "BlueprintPage");

export const FileEntrySchema = z
  .object({
    name: z.string(),
    type: z.enum(["file", "directory", "symlink", "other"]),
    size: z.number().int(),
    modifiedAt: isoTime,
  })
  .openapi("FileEntry");

export const FileListSchema = z
  .object({
    items: z.array(FileEntrySchema).openapi({ description: "Sorted by name (code-unit order)" }),
    nextAfter: z.string().nullable().openapi({ description: "More entries follow: ask again with ?after= this name. Null on the last page." }),
  })
  .openapi("FileList");

export const ExecResultSchema = z
  .object({
    exitCode: z.number().int().nullable().openapi({ description: "Null when a signal ended the process." }),
    signal: z.string().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    stdoutTruncated: z.boolean(),
    stderrTruncated: z.boolean(),
    stdoutBytes: z.number().int(),
    stderrBytes: z.number().int(),
    timedOut: z.boolean(),
    cancelled: z.boolean().openapi({ description: "True when a cancel ended it: DELETE …/commands/{commandId}, or its client closed the connection." }),
    durationMs: z.number(),
  })
  .openapi("ExecResult");

/** JSON error responses for a route's `responses`, by status. */
export function errorResponses(...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 422 | 429 | 503)[]) {
  const described: Record<number, string> = {
    400: "The request failed validation (the message names the field)",
    401: "Not authenticated",
    403: "Not allowed",
    404: "No such thing",
    409: "The current state refuses this",
    413: "Body too large",
    422: "No blueprint can ever satisfy this",
    429: "Too many requests from this token (see Retry-After)",
    503: "A lease interface is unavailable",
  };
  return Object.fromEntries(
    statuses.map((s) => [s, { description: described[s]!, content: { "application/json": { schema: ErrorSchema } } }]),
  );
}
