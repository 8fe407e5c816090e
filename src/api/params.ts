import { z } from "@hono/zod-openapi";
import { idPattern } from "../domain/ids";

/**
 * Request pieces shared by the routes. Everything a client sends that reaches SQL or the event
 * log is bounded here, so a bad value is a 400 (or a 404 for a path id), never a driver error.
 */

/** A path id; a malformed one is answered 404 by the validation hook (no such id can exist). */
export const idParams = z.object({
  id: z.string().regex(idPattern).openapi({ param: { name: "id", in: "path" }, example: "ls_01jc9x8m2q4r7s0t3v5w8y1z" }),
});

export const idString = z.string().regex(idPattern, "not an id");

/** A query flag (`?stream=1`, `?list=1`): on when given, unless it is 0 or false. */
export function queryFlag(value: string | undefined): boolean {
  return value !== undefined && value !== "0" && value !== "false";
}

export const resourceTypeString = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9-]*$/, "lowercase letters, digits and dashes, starting with a letter or digit");

/**
 * A UTF-16 surrogate without its other half: JSON.stringify writes it as `\udXXX`, which
 * PostgreSQL's jsonb refuses, so such a string must be refused here, not fail the append.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Names people type (blueprint names, reasons): no control characters, which PostgreSQL may refuse (NUL). */
export function plainText(max: number) {
  return z
    .string()
    .max(max)
    .regex(/^[^\u0000-\u0008\u000b\u000c\u000e-\u001f]*$/, "must not contain control characters")
    .refine((s) => !LONE_SURROGATE.test(s), "must be well-formed Unicode (no lone surrogates)");
}

const MAX_JSON_DEPTH = 32;

/** Where a JSON value breaks what jsonb and the event log accept: a NUL anywhere, or absurd depth. */
function jsonProblem(value: unknown, depth: number): string | undefined {
  if (depth > MAX_JSON_DEPTH) return `nested more than ${MAX_JSON_DEPTH} levels deep`;
  if (typeof value === "string") return stringProblem(value);
  if (Array.isArray(value)) {
    for (const v of value) {
      const problem = jsonProblem(v, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const keyProblem = stringProblem(k);
      if (keyProblem) return keyProblem;
      const problem = jsonProblem(v, depth + 1);
      if (problem) return problem;
    }
  }
  return undefined;
}

function stringProblem(s: string): string | undefined {
  if (s.includes("\u0000")) return "must not contain NUL characters";
  if (LONE_SURROGATE.test(s)) return "must be well-formed Unicode (no lone surrogates)";
  return undefined;
}

/** A free-form JSON object stored as it is (attributes, blueprint config). */
export function jsonRecord(maxKeys: number) {
  return z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    if (Object.keys(value).length > maxKeys) ctx.addIssue({ code: "custom", message: `at most ${maxKeys} keys` });
    const problem = jsonProblem(value, 0);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
}

export const limitQuery = z.coerce.number().int().min(1).max(200).default(50).openapi({ type: "integer", example: 50 });

/** Opaque page cursor from a previous page's `nextCursor`. */
export const cursorQuery = z.string().max(200).optional();

/** `?status=a,b`: a comma list of the given statuses, checked before it reaches SQL. */
export function statusListQuery(statuses: readonly string[]) {
  const one = statuses.join("|");
  return z
    .string()
    .regex(new RegExp(`^(${one})(,(${one}))*$`), `a comma list of ${statuses.join(", ")}`)
    .optional()
    .openapi({ example: statuses.slice(0, 2).join(",") });
}

export function splitList(value: string | undefined): string[] | undefined {
  return value ? [...new Set(value.split(","))] : undefined;
}

/** Owner names in filters: client names, and the `resource:<id>` owners of held leases. */
export const ownerString = z.string().regex(/^[A-Za-z0-9._@:-]{1,64}$/, "not an owner name");
