import type { MiddlewareHandler } from "hono";

/**
 * The policy of every HTML page the service serves (today only /docs): scripts, styles, images,
 * fonts and connections from this origin only, and nothing else. No inline script: the pages
 * load their scripts from files. Inline styles are allowed because Swagger UI's React code sets
 * some (an injected style cannot run script); `data:` images because its stylesheet draws its
 * icons with them. No framing (clickjacking), no <base>, no forms posted elsewhere.
 */
export const HTML_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** A policy (of possibly several, comma-separated) that sandboxes the page. */
const SANDBOXED = /(^|[;,])\s*sandbox(\s|;|,|$)/i;

/**
 * Adds the policy to every HTML response, whichever route made it (so a page added later has it
 * too), and `nosniff` to every response, so a browser never runs as script what the service sent
 * as something else.
 *
 * One exception: a response that already carries a policy with the `sandbox` directive (a lease's
 * page through the httpd proxy, src/api/httpd-proxy.ts) keeps its own. Sandboxed without
 * allow-same-origin, the page runs in an opaque origin, which is what keeps it from the service's
 * own pages; this policy's `script-src 'self'` would instead let it run scripts as the service.
 */
export function htmlSecurityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.res.headers.set("X-Content-Type-Options", "nosniff");
    if ((c.res.headers.get("content-type") ?? "").toLowerCase().startsWith("text/html")) {
      if (!SANDBOXED.test(c.res.headers.get("content-security-policy") ?? "")) c.res.headers.set("Content-Security-Policy", HTML_CONTENT_SECURITY_POLICY);
      c.res.headers.set("Referrer-Policy", "no-referrer");
    }
  };
}
