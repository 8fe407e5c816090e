/**
 * The README's curl examples checked against the app's own route definitions: the ones
 * /openapi.json is generated from, with the zod schemas the routes validate requests with.
 */
import type { z } from "zod";
import type { createApp } from "../../src/api/app";
import { ErrorSchema } from "../../src/api/schemas";

export interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  public: boolean;
  params?: z.ZodType;
  query?: z.ZodType;
  /** The JSON request body's schema (undefined: the route takes no JSON body). */
  jsonBody?: z.ZodType;
  bodyRequired: boolean;
  /** Every JSON response the route documents, and the error body every route may answer. */
  responses: z.ZodType[];
}

/** The routes of the app, as registered for its OpenAPI document. */
export function routesOf(app: ReturnType<typeof createApp>): Route[] {
  return app.openAPIRegistry.definitions.flatMap((d) => {
    if (d.type !== "route") return [];
    const r = d.route;
    // `{path}` (a file path) may hold slashes, as the file routes' `:path{.+}` does; other params are one segment.
    const source = r.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_, name: string) => (name === "path" ? `(?<${name}>.+)` : `(?<${name}>[^/]+)`));
    const json = (content: unknown) => (content as Record<string, { schema?: z.ZodType }> | undefined)?.["application/json"]?.schema;
    const responses = Object.values(r.responses ?? {})
      .map((response) => json((response as { content?: unknown }).content))
      .filter((s): s is z.ZodType => s !== undefined);
    return [
      {
        method: r.method.toUpperCase(),
        path: r.path,
        pattern: new RegExp(`^${source}$`),
        public: Array.isArray(r.security) && r.security.length === 0,
        params: r.request?.params as z.ZodType | undefined,
        query: r.request?.query as z.ZodType | undefined,
        jsonBody: json(r.request?.body?.content),
        bodyRequired: r.request?.body?.required === true,
        responses: [...responses, ErrorSchema],
      },
    ];
  });
}

export interface CurlCall {
  method: string;
  url: URL;
  /** Header names in lower case. */
  headers: Map<string, string>;
  data?: string;
}

const BOOLEAN_FLAGS = /^-[sSNfiL]+$/;
const DATA_FLAGS = new Set(["-d", "--data", "--data-raw", "--data-binary"]);

/** A curl command's method, URL (shell variables expanded from `variables`), headers and data; or what is wrong with it. */
export function parseCurl(words: readonly string[], variables: ReadonlyMap<string, string>): CurlCall | { problem: string } {
  let method: string | undefined;
  let url: string | undefined;
  let data: string | undefined;
  const headers = new Map<string, string>();
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    const next = () => {
      if (i + 1 >= words.length) throw new Error(`${w} needs a value`);
      return words[++i]!;
    };
    try {
      if (w === "-X" || w === "--request") method = next();
      else if (w === "-H" || w === "--header") {
        const header = next();
        const colon = header.indexOf(":");
        if (colon < 1) return { problem: `header ${JSON.stringify(header)} is not "Name: value"` };
        headers.set(header.slice(0, colon).trim().toLowerCase(), header.slice(colon + 1).trim());
      } else if (DATA_FLAGS.has(w)) data = next();
      else if (BOOLEAN_FLAGS.test(w)) continue;
      else if (w.startsWith("-")) return { problem: `curl option ${w} is not one this check knows` };
      else if (url !== undefined) return { problem: `two URLs: ${url} and ${w}` };
      else url = w;
    } catch (error) {
      return { problem: (error as Error).message };
    }
  }
  if (url === undefined) return { problem: "no URL" };
  const unset: string[] = [];
  const expanded = url.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => {
    const value = variables.get(name);
    if (value === undefined) unset.push(name);
    return value ?? "";
  });
  if (unset.length > 0) return { problem: `the URL uses $${unset.join(", $")}, which no earlier example sets` };
  let parsed: URL;
  try {
    parsed = new URL(expanded);
  } catch {
    return { problem: `${expanded} is not a URL` };
  }
  return { method: (method ?? (data !== undefined ? "POST" : "GET")).toUpperCase(), url: parsed, headers, ...(data !== undefined ? { data } : {}) };
}

/** The route a call names (method and path), with its decoded path parameters. */
export function routeFor(routes: readonly Route[], call: CurlCall): { route: Route; params: Record<string, string> } | undefined {
  for (const route of routes) {
    if (route.method !== call.method) continue;
    const m = route.pattern.exec(call.url.pathname);
    if (m) return { route, params: Object.fromEntries(Object.entries(m.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)])) };
  }
  return undefined;
}

/** Why `value` is not `schema`'s, as "field: message" lines (none: it is). */
export function schemaProblems(schema: z.ZodType, value: unknown): string[] {
  const result = schema.safeParse(value);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.map(String).join(".") || "(body)"}: ${i.message}`);
}

/**
 * What is wrong with an abbreviated value (some fields left out) against a schema: every field it
 * shows must exist there, and every value it shows must be that field's.
 */
export function partialProblems(schema: z.ZodType, value: unknown, at = ""): string[] {
  const def = (schema as unknown as { _zod: { def: Record<string, any> } })._zod.def;
  const type = def.type as string;
  if (["optional", "default", "prefault", "readonly", "nonoptional", "catch"].includes(type)) {
    return value === undefined ? [] : partialProblems(def.innerType, value, at);
  }
  if (type === "nullable") return value === null ? [] : partialProblems(def.innerType, value, at);
  if (type === "object") {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${at || "(body)"}: not an object`];
    return Object.entries(value).flatMap(([k, v]) => {
      const field = at ? `${at}.${k}` : k;
      return k in def.shape ? partialProblems(def.shape[k], v, field) : [`${field}: no such field`];
    });
  }
  if (type === "array") {
    if (!Array.isArray(value)) return [`${at || "(body)"}: not an array`];
    return value.flatMap((v, i) => partialProblems(def.element, v, `${at}[${i}]`));
  }
  return schemaProblems(schema, value).map((p) => (at ? `${at}: ${p.replace(/^\(body\): /, "")}` : p));
}
