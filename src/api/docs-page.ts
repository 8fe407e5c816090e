import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";
import { NotFoundError } from "../domain/errors";
import type { ApiApp } from "./api-env";
import { publicRoute } from "./route-access";

/**
 * /docs: Swagger UI from the `swagger-ui-dist` package this install pinned (package-lock.json,
 * with its integrity hash), served by Drydock itself under /docs/assets/. No CDN: the page loads
 * nothing from another origin and runs no inline script, so its Content-Security-Policy
 * (html-security.ts) allows scripts from this origin only. The token prompt is a served script
 * too (docs-client.js).
 *
 * Only the files listed here are served, by name: the URL never becomes a file path.
 */
const dist = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const here = path.dirname(fileURLToPath(import.meta.url));

const JS = "text/javascript; charset=utf-8";
const assets: Record<string, { file: string; type: string }> = {
  "swagger-ui-bundle.js": { file: path.join(dist, "swagger-ui-bundle.js"), type: JS },
  "swagger-ui.css": { file: path.join(dist, "swagger-ui.css"), type: "text/css; charset=utf-8" },
  "favicon-32x32.png": { file: path.join(dist, "favicon-32x32.png"), type: "image/png" },
  "drydock-docs.js": { file: path.join(here, "docs-client.js"), type: JS },
};

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Drydock API</title>
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/drydock-docs.js"></script>
  </body>
</html>
`;

/** Read once, on first use: the files do not change while the service runs. */
const cache = new Map<string, Promise<Buffer>>();

function contentOf(name: string, file: string): Promise<Buffer> {
  let content = cache.get(name);
  if (!content) {
    content = readFile(file);
    cache.set(name, content);
    content.catch(() => cache.delete(name));
  }
  return content;
}

async function serveAsset(c: Context, name: string): Promise<Response> {
  const asset = Object.hasOwn(assets, name) ? assets[name] : undefined;
  if (!asset) throw new NotFoundError("docs asset", name.length > 80 ? `${name.slice(0, 80)}…` : name);
  const body = await contentOf(name, asset.file);
  // An hour: the files change only with an upgrade of the package (or of Drydock).
  return c.body(new Uint8Array(body), 200, { "content-type": asset.type, "cache-control": "public, max-age=3600" });
}

export function registerDocsPage(app: ApiApp): void {
  // Public: a page with no data of its own, and Swagger UI's files.
  app.get("/docs", publicRoute, (c) => c.html(PAGE));
  app.get("/docs/assets/:name", publicRoute, (c) => serveAsset(c, c.req.param("name")));
}
