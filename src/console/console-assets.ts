import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";
import { NotFoundError } from "../domain/errors";

/**
 * The console's browser files: plain JavaScript modules and one stylesheet, served as they are
 * (no bundler, no build step on the user's side). They sit in `console-assets/` next to this
 * module; bin/build.mjs copies that directory next to the built chunks, so the same lookup works
 * from the TypeScript sources (tsx) and from dist/, as docs-page.ts does for its script.
 *
 * Only the files listed here are served, by name: the URL never becomes a file path.
 */
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "console-assets");

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

export const CONSOLE_ASSETS: Readonly<Record<string, string>> = {
  "console.css": CSS,
  "main.js": JS,
  "api.js": JS,
  "session.js": JS,
  "dom.js": JS,
  "format.js": JS,
  "live.js": JS,
  "leases-page.js": JS,
  "lease-page.js": JS,
  "resources-page.js": JS,
  "resource-page.js": JS,
  "blueprints-page.js": JS,
  "blueprint-page.js": JS,
  "authorizations-page.js": JS,
  "tokens-page.js": JS,
  "log-page.js": JS,
};

interface Asset {
  body: Buffer;
  etag: string;
}

/** Read once, on first use: the files change only with an upgrade of Drydock. */
const cache = new Map<string, Promise<Asset>>();

function assetOf(name: string): Promise<Asset> {
  let asset = cache.get(name);
  if (!asset) {
    asset = readFile(path.join(dir, name)).then((body) => ({ body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` }));
    cache.set(name, asset);
    asset.catch(() => cache.delete(name));
  }
  return asset;
}

export async function serveConsoleAsset(c: Context, name: string): Promise<Response> {
  const type = Object.hasOwn(CONSOLE_ASSETS, name) ? CONSOLE_ASSETS[name] : undefined;
  if (!type) throw new NotFoundError("console asset", name.length > 80 ? `${name.slice(0, 80)}…` : name);
  const { body, etag } = await assetOf(name);
  // `no-cache` with an ETag: the browser asks each time and mostly gets a 304, and a page never
  // runs one module of an old version with another of the new one after an upgrade.
  const headers = { "cache-control": "no-cache", etag };
  if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
  return c.body(new Uint8Array(body), 200, { ...headers, "content-type": type });
}
