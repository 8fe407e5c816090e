import type { Context } from "hono";
import type { ApiApp } from "../api/api-env";
import { publicRoute } from "../api/route-access";
import { NotFoundError } from "../domain/errors";
import { idPattern } from "../domain/ids";
import { serveConsoleAsset } from "./console-assets";
import { renderShell, type Shell } from "./console-layout";
import {
  authorizationsPage,
  blueprintPage,
  blueprintsPage,
  leasePage,
  leasesPage,
  logPage,
  resourcePage,
  resourcesPage,
  tokensPage,
} from "./console-pages";

/**
 * The web console, served by the API's own process. Every path here is public (GET, no token,
 * declared with `publicRoute`):
 * the pages are shells with no data of their own, and the assets are the console's scripts and
 * stylesheet. Everything a page shows it fetches from /v1/… with the token kept in the tab.
 *
 * Paths, one per page, so a page can be bookmarked and opened in a new tab:
 *   /                          → redirects to /console
 *   /console                   leases (/console/leases redirects here)
 *   /console/leases/{id}       a lease: timeline, events, release, renew
 *   /console/resources         resources by blueprint
 *   /console/resources/{id}    a resource: leases, history, release, drain
 *   /console/blueprints        blueprints
 *   /console/blueprints/new    create one
 *   /console/blueprints/{id}   edit one, disable, enable
 *   /console/authorizations    pending (and decided) authorizations
 *   /console/tokens            issue and revoke tokens
 *   /console/log               the event log, and the pool as of a moment
 *   /console/assets/{name}     the scripts and the stylesheet
 */
export const CONSOLE_PATHS = [
  "/",
  "/console",
  "/console/leases",
  "/console/leases/{id}",
  "/console/resources",
  "/console/resources/{id}",
  "/console/blueprints",
  "/console/blueprints/new",
  "/console/blueprints/{id}",
  "/console/authorizations",
  "/console/tokens",
  "/console/log",
  "/console/assets/{name}",
] as const;

function page(c: Context, shell: Shell) {
  // The shell is the same for every user; the data is fetched with the tab's token and is never cached here.
  c.header("cache-control", "no-cache");
  return c.html(renderShell(shell));
}

/** An id in the path is echoed into the page: only a well-formed one is (a malformed one cannot exist). */
function checkedId(c: Context, kind: string): string {
  const id = c.req.param("id") ?? "";
  if (!idPattern.test(id)) throw new NotFoundError(kind, id.length > 80 ? `${id.slice(0, 80)}…` : id);
  return id;
}

export function registerConsole(app: ApiApp): void {
  app.get("/", publicRoute, (c) => c.redirect("/console", 302));
  app.get("/console", publicRoute, (c) => page(c, leasesPage()));
  app.get("/console/leases", publicRoute, (c) => c.redirect("/console", 302));
  app.get("/console/leases/:id", publicRoute, (c) => page(c, leasePage(checkedId(c, "lease"))));
  app.get("/console/resources", publicRoute, (c) => page(c, resourcesPage()));
  app.get("/console/resources/:id", publicRoute, (c) => page(c, resourcePage(checkedId(c, "resource"))));
  app.get("/console/blueprints", publicRoute, (c) => page(c, blueprintsPage()));
  app.get("/console/blueprints/new", publicRoute, (c) => page(c, blueprintPage(null)));
  app.get("/console/blueprints/:id", publicRoute, (c) => page(c, blueprintPage(checkedId(c, "blueprint"))));
  app.get("/console/authorizations", publicRoute, (c) => page(c, authorizationsPage()));
  app.get("/console/tokens", publicRoute, (c) => page(c, tokensPage()));
  app.get("/console/log", publicRoute, (c) => page(c, logPage()));
  app.get("/console/assets/:name", publicRoute, (c) => serveConsoleAsset(c, c.req.param("name")));
}
