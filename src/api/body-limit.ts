import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { DomainError } from "../domain/errors";

/**
 * Refuses a request body larger than `maxBytes` with `payload_too_large`, before a route reads it;
 * an `exempt` request's route bounds its body itself (a file upload, which streams).
 *
 * A body with a `Content-Length` is judged by that header alone: Node's HTTP parser never hands a
 * route more bytes than the header says, so the header bounds what can be read. Only a body sent
 * without one (chunked) is counted as it streams in, by Hono's `bodyLimit`.
 *
 * Why not Hono's `bodyLimit` for every request: it asks the request for its `body` first, and on
 * `@hono/node-server` that one property turns the lightweight request into a full Web `Request`
 * with a stream over the socket (an AbortController, a ReadableStream, undici's Request): about a
 * tenth of a millisecond of CPU per request, on every call, GETs included, and the JSON body is then
 * read through web streams rather than straight from the socket.
 */
export function limitBody(maxBytes: number, exempt: (c: Context) => boolean = () => false): MiddlewareHandler {
  const tooLarge = (): never => {
    throw new DomainError("payload_too_large", `body: larger than ${maxBytes} bytes`, { limit: maxBytes });
  };
  const counted = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c, next) => {
    // A GET or HEAD carries no body a route reads (the Fetch API refuses one).
    if (c.req.method === "GET" || c.req.method === "HEAD" || exempt(c)) return next();
    const length = declaredLength(c);
    if (length !== null) {
      if (length > maxBytes) tooLarge();
      return next();
    }
    return counted(c, next);
  };
}

/** The body's length as its Content-Length declares it, which bounds what can be read; null when it comes without one (chunked). */
export function declaredLength(c: Context): number | null {
  const length = c.req.header("content-length");
  return length !== undefined && /^\d+$/.test(length) && c.req.header("transfer-encoding") === undefined ? Number(length) : null;
}
