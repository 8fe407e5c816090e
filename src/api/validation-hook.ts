import type { Context } from "hono";
import type { ZodError } from "zod";
import { NotFoundError, ValidationError } from "../domain/errors";

type HookResult = { target: string } & ({ success: true; data: unknown } | { success: false; error: ZodError });

const kindOfCollection: Record<string, string> = {
  leases: "lease",
  resources: "resource",
  blueprints: "blueprint",
  tokens: "token",
  authorizations: "authorization",
};

/**
 * The default hook of every OpenAPI route: turns a schema failure into a domain error for
 * onError to render. A malformed path id is a 404 (no such thing can exist), not a 400; a body
 * or query failure is a 400 whose message names the first failing field.
 */
export function validationHook(result: HookResult, c: Context): void {
  if (result.success) return;
  if (result.target === "param") {
    // "/v1/leases/:id/..." → a lease; the raw id is what the client asked for.
    const collection = c.req.routePath.split("/")[2] ?? "";
    const id = c.req.param("id") ?? "";
    throw new NotFoundError(kindOfCollection[collection] ?? "resource", id.length > 80 ? `${id.slice(0, 80)}…` : id);
  }
  const where = result.target === "json" ? "body" : result.target;
  const issues = result.error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    // Name the offending key rather than the object that holds it.
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ field: [...path, key].join("."), message: "unknown field" }));
    }
    const message = issue.code === "invalid_type" && / received undefined$/.test(issue.message) ? "Required" : issue.message;
    return [{ field: path.join(".") || where, message }];
  });
  const first = issues[0];
  throw new ValidationError(first ? `${first.field}: ${first.message}` : `${where}: invalid`, { issues });
}
