import { z } from "@hono/zod-openapi";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import { tokenStillValid } from "../auth/token-queries";
import type { Drydock } from "../service/drydock";
import type { LogCheckpoint, LogFilter } from "../store/event-store";
import type { ApiApp } from "./api-env";
import { afterQuery, cursorOf, eventFilterQuery, logFilterOf, NOT_A_CURSOR, parseCursor, startPattern } from "./event-filters";
import { errorResponses, eventJsonOf } from "./schemas";
import { rules } from "../auth/access-policy";
import { defineRoute } from "./route-access";

/** How the stream follows the log; fixed for the service, overridable in tests. */
export interface FollowOptions {
  /** Look at the log this often even when no NOTIFY came (a lost notification, a held-back horizon). */
  pollMs: number;
  /** Send a comment line after this long without writing, so proxies keep the connection open. */
  keepAliveMs: number;
  /** Events read per query. */
  batchSize: number;
  /** Check this often that the client's token still works (not revoked, not expired). */
  tokenCheckMs: number;
}

export const defaultFollowOptions: FollowOptions = { pollMs: 1000, keepAliveMs: 15_000, batchSize: 500, tokenCheckMs: 2000 };

/** What a browser's EventSource waits before reconnecting; it then sends Last-Event-ID. */
const RECONNECT_MS = 2000;
/**
 * After a NOTIFY that found nothing new (an older transaction may still hold the horizon back),
 * look again soon, backing off from this delay up to pollMs.
 */
const HELD_BACK_FIRST_RETRY_MS = 25;

const streamRoute = defineRoute({
  access: rules.admin,
  method: "get",
  path: "/v1/events/stream",
  summary: "Follow the log as server-sent events",
  description:
    "Each event is one SSE message whose `id` is its cursor and whose `data` is the event as JSON. " +
    "Reconnect with the `Last-Event-ID` header (browsers do) or `?after=` to resume exactly after the last one seen: " +
    "no event is missed or repeated. Filters as on GET /v1/events. With filters, an `id`-only message moves the " +
    "cursor past events that did not match. Comment lines keep the connection alive.",
  request: {
    query: z.object({ after: afterQuery, ...eventFilterQuery }),
    headers: z.object({
      "last-event-id": z.string().regex(startPattern, NOT_A_CURSOR).optional().openapi({ description: "Resume after this cursor (`0`: from the start of the log); wins over `after`." }),
    }),
  },
  responses: {
    200: { description: "An endless stream of events", content: { "text/event-stream": { schema: z.string() } } },
    ...errorResponses(400),
  },
});

export function registerEventStreamRoute(app: ApiApp, drydock: Drydock, options: FollowOptions = defaultFollowOptions): void {
  app.openapi(streamRoute, (c) => {
    const { after, ...filters } = c.req.valid("query");
    const lastEventId = c.req.valid("header")["last-event-id"];
    const start = lastEventId ? parseCursor(lastEventId, "Last-Event-ID") : parseCursor(after);
    return streamSSE(c, async (stream) => {
      drydock.metrics.eventStreamClients.inc();
      const tokenId = c.get("principal").tokenId;
      const tokenValid = () => tokenStillValid(drydock.database.db, tokenId, drydock.clock.now());
      try {
        await followLog(stream, drydock, start, logFilterOf(filters), options, tokenValid);
      } finally {
        drydock.metrics.eventStreamClients.dec();
      }
    });
  });
}

/**
 * Writes the log to the stream from `start` until the client goes away. Reads are the store's
 * commit-safe reads (below the oldest transaction in flight), so a cursor sent is never passed
 * by a late commit: resuming from any id the client saw yields every later event exactly once.
 */
export async function followLog(
  stream: SSEStreamingApi,
  drydock: Pick<Drydock, "store" | "watcher">,
  start: LogCheckpoint,
  filter: LogFilter,
  options: FollowOptions,
  /** Whether the client's token still works: a revoked or expired one ends the stream. */
  tokenValid: () => Promise<boolean> = async () => true,
): Promise<void> {
  let checkpoint = start;
  let notified = false;
  let wake: () => void = () => {};
  const unsubscribe = drydock.watcher.onAnyChange(() => {
    notified = true;
    wake();
  });
  stream.onAbort(() => wake());
  let lastWrite = Date.now();
  let lastTokenCheck = Date.now();
  let heldBack = 0;
  try {
    await stream.write(`retry: ${RECONNECT_MS}\n\n`);
    while (!stream.aborted && !stream.closed) {
      if (Date.now() - lastTokenCheck >= options.tokenCheckMs) {
        lastTokenCheck = Date.now();
        if (!(await tokenValid())) {
          // The client reconnects (EventSource does) and gets the 401 it now deserves.
          await stream.writeSSE({ event: "end", data: JSON.stringify({ error: { code: "unauthorized", message: "the token was revoked or has expired" } }) });
          return;
        }
      }
      const wasNotified = notified;
      notified = false;
      const page = await drydock.store.readAll(checkpoint, { ...filter, limit: options.batchSize });
      for (const e of page.events) {
        await stream.writeSSE({ id: cursorOf({ transactionId: e.transactionId, position: e.globalPosition }), data: JSON.stringify(eventJsonOf(e)) });
      }
      const last = page.events.at(-1);
      const lastSent = last ? cursorOf({ transactionId: last.transactionId, position: last.globalPosition }) : cursorOf(checkpoint);
      if (cursorOf(page.checkpoint) !== lastSent) {
        // Rows that did not match the filter moved the checkpoint on: an id-only message moves
        // the client's Last-Event-ID with it (EventSource dispatches nothing for it).
        await stream.write(`id: ${cursorOf(page.checkpoint)}\n\n`);
      }
      const moved = cursorOf(page.checkpoint) !== cursorOf(checkpoint);
      if (moved) lastWrite = Date.now();
      checkpoint = page.checkpoint;
      if (page.events.length >= options.batchSize || notified) continue;

      heldBack = (wasNotified || heldBack > 0) && !moved ? heldBack + 1 : 0;
      const delay = heldBack > 0 ? Math.min(options.pollMs, HELD_BACK_FIRST_RETRY_MS * 2 ** (heldBack - 1)) : options.pollMs;
      const keepAliveIn = options.keepAliveMs - (Date.now() - lastWrite);
      if (keepAliveIn <= 0) {
        await stream.write(": keep-alive\n\n");
        lastWrite = Date.now();
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(delay, keepAliveIn));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (notified || stream.aborted) wake();
      });
      wake = () => {};
    }
  } finally {
    unsubscribe();
  }
}
