import type { Hono } from "hono";
import { TrieRouter } from "hono/router/trie-router";
import { resolveAccess, type Access, type RouteDeclaration } from "../auth/access-policy";
import { declarationOf } from "./route-access";

/** A registered route and what it declared (null: nothing, so admin-only). */
export interface RouteAccessEntry {
  method: string;
  /** Hono's pattern: `/v1/leases/:id/files/:path{.+}`. */
  path: string;
  declaration: RouteDeclaration | null;
}

export interface AccessMatch {
  /** The declaration of the route the request matches; null when that route declared none or no route matches. */
  declaration: RouteDeclaration | null;
  access: Access;
}

/** Hono's middleware (`app.use`) is registered under this method; only declaring middleware of it counts. */
const ALL = "ALL";

/**
 * The method + path-pattern → access table of an app, read from the routes registered on it
 * (route-access.ts says how a route declares its access), matched with Hono's own router so a
 * request finds the same route here as in the app.
 *
 * - The path is the one Hono routes by (`c.req.path`: percent-decoded except for `%2F` and the
 *   other reserved characters), and a path parameter is decoded as `c.req.param()` decodes it, so
 *   an id checked here is exactly the `:id` the route sees (`..%2Ftokens` is `../tokens`, which
 *   no id matches).
 * - HEAD is matched as GET, as Hono answers it.
 * - Every registered route is in the table, declared or not, in registration order, and the first
 *   one that matches decides, as in the app: an undeclared route is admin-only and is never
 *   shadowed by a later, more open one. Plain `app.use` middleware is left out (it is not an
 *   endpoint); `app.use(path, publicRoute)` declares every method under the path.
 * - Built at the first lookup, and again whenever routes were added since.
 */
export class RouteAccessTable {
  #builtFor = -1;
  #router = new TrieRouter<RouteDeclaration | null>();
  #entries: RouteAccessEntry[] = [];

  constructor(private readonly app: Pick<Hono, "routes">) {}

  lookup(method: string, path: string): AccessMatch {
    this.#build();
    const m = method.toUpperCase();
    const [matches] = this.#router.match(m === "HEAD" ? "GET" : m, path);
    const first = matches[0] as [RouteDeclaration | null, Record<string, string>] | undefined;
    if (!first) return { declaration: null, access: resolveAccess(undefined, {}) };
    const [declaration, rawParams] = first;
    const params: Record<string, string> = {};
    for (const [name, value] of Object.entries(rawParams)) params[name] = decodeParam(value);
    return { declaration, access: resolveAccess(declaration?.rule, params) };
  }

  /** Every route and its declaration, in registration order. */
  entries(): RouteAccessEntry[] {
    this.#build();
    return [...this.#entries];
  }

  #build(): void {
    const routes = this.app.routes;
    if (this.#builtFor === routes.length) return;
    const byRoute = new Map<string, RouteAccessEntry>();
    for (const r of routes) {
      const declaration = declarationOf(r.handler) ?? null;
      if (r.method === ALL && declaration === null) continue;
      const key = `${r.method} ${r.path}`;
      const seen = byRoute.get(key);
      if (!seen) byRoute.set(key, { method: r.method, path: r.path, declaration });
      else if (seen.declaration === null) seen.declaration = declaration;
    }
    const router = new TrieRouter<RouteDeclaration | null>();
    for (const entry of byRoute.values()) router.add(entry.method, entry.path, entry.declaration);
    this.#router = router;
    this.#entries = [...byRoute.values()];
    this.#builtFor = routes.length;
  }
}

/** As Hono's `c.req.param()`: decoded when it holds a `%`, as it is when that fails. */
function decodeParam(value: string): string {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
