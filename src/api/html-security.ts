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

/**
 * Adds the policy to every HTML response, whichever route made it (so a page added later has it
 * too), and `nosniff` to every response, so a browser never runs as script what the service sent
 * as something else.
 */
export function htmlSecurityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.res.headers.set("X-Content-Type-Options", "nosniff");
    if ((c.res.headers.get("content-type") ?? "").toLowerCase().startsWith("text/html")) {
      c.res.headers.set("Content-Security-Policy", HTML_CONTENT_SECURITY_POLICY);
      c.res.headers.set("Referrer-Policy", "no-referrer");
    }
  };
}
