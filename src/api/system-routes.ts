import { z } from "@hono/zod-openapi";
import { sql } from "kysely";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { registerDocsPage } from "./docs-page";
import { rules } from "../auth/access-policy";
import { access, defineRoute } from "./route-access";

const HealthSchema = z
  .object({ status: z.enum(["ok", "unavailable"]), database: z.enum(["pglite", "postgres"]) })
  .openapi("Health");

const healthRoute = defineRoute({
  access: rules.public,
  method: "get",
  path: "/healthz",
  summary: "Liveness and database reachability (no token needed)",
  responses: {
    200: { description: "Up", content: { "application/json": { schema: HealthSchema } } },
    503: { description: "The database does not answer", content: { "application/json": { schema: HealthSchema } } },
  },
});

/** A health check must answer even when the database hangs. */
const HEALTH_TIMEOUT_MS = 5_000;

async function databaseAnswers(drydock: Drydock): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS);
  });
  const query = sql`select 1`.execute(drydock.database.db).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerSystemRoutes(app: ApiApp, drydock: Drydock): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerToken", {
    type: "http",
    scheme: "bearer",
    description: "A Drydock token (ddk_...). Admins issue them: POST /v1/tokens, `drydock token create`.",
  });

  app.openapi(healthRoute, async (c) => {
    const database = drydock.database.kind;
    return (await databaseAnswers(drydock)) ? c.json({ status: "ok" as const, database }, 200) : c.json({ status: "unavailable" as const, database }, 503);
  });

  // Any token: the document shows every route, the admin ones too, and each one's x-drydock-access.
  app.get("/openapi.json", access(rules.any), (c) =>
    c.json(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: { title: "Drydock", version: "0.1.0", description: "Event-sourced resource leasing: leases on hosts and working copies, built from blueprints." },
        security: [{ bearerToken: [] }],
      }),
    ),
  );

  // /docs is public: a page with no data of its own. It asks for a token once per browser tab
  // and sends it on every request it makes, the OpenAPI document included (docs-page.ts).
  registerDocsPage(app);
}
