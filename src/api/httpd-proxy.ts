/**
 * The proxy of `/v1/leases/{id}/http/…` to a lease's server: one HTTP/1.1 exchange per request
 * over a stream the lease's httpd interface opened (a loopback connection, the sandbox relay, or
 * an SSH direct-tcpip channel), bodies streamed both ways.
 *
 * Invariants:
 * - The lease's server never sees the caller's credentials: the Authorization header (Drydock's
 *   bearer token) and Proxy-Authorization are dropped, with the hop-by-hop headers (RFC 9110
 *   §7.6.1) and any header the Connection header names.
 * - The path and query after `/http` reach the server as the caller wrote them (still
 *   percent-encoded); the prefix goes in X-Forwarded-Prefix, the caller's host and scheme in
 *   X-Forwarded-Host and -Proto. The Host header names the server's own loopback address, which
 *   development servers accept.
 * - Every response carries `Content-Security-Policy: sandbox …`: the page is served from
 *   Drydock's origin, and the sandbox directive gives it an opaque origin of its own, so nothing
 *   it runs can read what a Drydock page keeps (the console's token in sessionStorage) or call
 *   the API with the browser's credentials.
 * - Nothing the server does makes a 500: a stream that cannot be opened, or a server that closes
 *   it without an answer, is a 503 with a JSON error (HttpdUnreachableError).
 * - One connection per request (`Connection: close`), so no stream is shared between callers.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { Readable, type Duplex } from "node:stream";
import { HttpdUnreachableError, socketReason } from "../interfaces/httpd-interface";
import type { ApiContext } from "./api-env";

/** Request and response headers that are the connection's, not the message's. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);
/** Never passed to the lease's server. */
const CALLER_ONLY = new Set(["authorization", "host", "content-length"]);

/**
 * The sandbox of every proxied response: scripts, forms and popups work as they would on the
 * page's own origin, but in an opaque one (no allow-same-origin).
 */
export const PROXIED_CONTENT_SECURITY_POLICY = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/** The upstream path (with its query) of a proxied request: what follows `/v1/leases/{id}/http`, raw. */
export function upstreamPathOf(rawUrl: string): string {
  const url = new URL(rawUrl);
  // Segments: "", "v1", "leases", id, "http", rest…; taken from the raw path, not Hono's decoded one.
  const rest = url.pathname.split("/").slice(5).join("/");
  return `/${rest}${url.search}`;
}

/** The headers sent to the lease's server. */
export function upstreamHeaders(incoming: Headers, forwarded: { host: string; proto: string; prefix: string; port: number }): Record<string, string> {
  const named = new Set(
    (incoming.get("connection") ?? "")
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string> = {};
  incoming.forEach((value, name) => {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || CALLER_ONLY.has(lower) || named.has(lower) || lower.startsWith("x-forwarded-")) return;
    out[lower] = value;
  });
  out.host = `127.0.0.1:${forwarded.port}`;
  out["x-forwarded-host"] = forwarded.host;
  out["x-forwarded-proto"] = forwarded.proto;
  out["x-forwarded-prefix"] = forwarded.prefix;
  out.connection = "close";
  return out;
}

/** The headers of the server's response as the caller gets them. */
export function downstreamHeaders(upstream: IncomingMessage): Headers {
  const named = new Set(
    String(upstream.headers.connection ?? "")
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  const out = new Headers();
  const raw = upstream.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.append(lower, raw[i + 1]!);
  }
  out.append("content-security-policy", PROXIED_CONTENT_SECURITY_POLICY);
  return out;
}

/** Sends the request over `stream` and answers with the server's response, streamed. */
export function proxyRequest(c: ApiContext, stream: Duplex, target: { leaseId: string; port: number; where: string }): Promise<Response> {
  const raw = c.req.raw;
  const url = new URL(raw.url);
  const headers = upstreamHeaders(raw.headers, {
    host: raw.headers.get("host") ?? url.host,
    proto: url.protocol.replace(/:$/, ""),
    prefix: `/v1/leases/${target.leaseId}/http`,
    port: target.port,
  });
  const hasBody = raw.body !== null && raw.method !== "GET" && raw.method !== "HEAD";
  const length = raw.headers.get("content-length");
  if (hasBody && length !== null) headers["content-length"] = length;

  return new Promise<Response>((resolve, reject) => {
    let answered = false;
    const upstream = httpRequest({
      method: raw.method,
      path: upstreamPathOf(raw.url),
      headers,
      // No agent (not even `agent: false`, which makes a fresh one): only then is createConnection used.
      createConnection: () => stream as never,
    });
    const fail = (why: string) => {
      if (answered) return;
      answered = true;
      stream.destroy();
      reject(new HttpdUnreachableError(target.where, target.port, why));
    };
    upstream.on("error", (error) => fail(`the server closed the connection without an answer (${socketReason(error)})`));
    // The caller went away: so does the exchange, both ways.
    raw.signal?.addEventListener("abort", () => upstream.destroy(), { once: true });
    upstream.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        res.destroy();
        return fail(`the server answered with status ${status}, which is not passed on (no protocol upgrades)`);
      }
      answered = true;
      const bodiless = raw.method === "HEAD" || status === 204 || status === 304;
      if (bodiless) res.resume();
      res.on("error", () => undefined); // a reset mid-body ends the caller's body early; nothing else to do
      // statusText is left out: it is the server's free text, and a Response refuses some of it.
      resolve(new Response(bodiless ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers: downstreamHeaders(res) }));
    });
    if (hasBody) Readable.fromWeb(raw.body as never).on("error", () => upstream.destroy()).pipe(upstream);
    else upstream.end();
  });
}
