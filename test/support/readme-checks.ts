/**
 * The checks behind test/unit/readme-examples.test.ts, over a markdown text, each returning what
 * is wrong as "line N: …" strings (none: it works as written). See the test for the conventions.
 */
import { localHostConfigSchema } from "../../src/blueprints/local-host-blueprint";
import { parseStaticHostsConfig, type StaticHost } from "../../src/blueprints/static-hosts-config";
import { parseEc2HostConfig } from "../../src/blueprints/ec2-host/ec2-host-config";
import { parseWorkingCopyConfig } from "../../src/blueprints/working-copy/working-copy-config";
import { EventSchema } from "../../src/api/schemas";
import { parseOrThrow } from "../../src/domain/parse";
import { parseCurl, partialProblems, routeFor, schemaProblems, type CurlCall, type Route } from "./readme-curl";
import { codeBlocks, isShellBlock, outputJson, shellCommands, tokenize, withoutAssignments, withoutElisions, type ShellCommand } from "./readme-examples";

/** Where `npm start` serves (README: "the service on http://127.0.0.1:8080"; PORT defaults to 8080). */
export const SERVICE_ORIGIN = "http://127.0.0.1:8080";

/** Config parsers of the blueprint kinds a README may create or change. */
const parseConfigOf: Record<string, (raw: unknown) => unknown> = {
  "static-hosts": parseStaticHostsConfig,
  "ec2-host": parseEc2HostConfig,
  "working-copy": parseWorkingCopyConfig,
  "local-host": (raw) => parseOrThrow(localHostConfigSchema, raw ?? {}, "config"),
};

export interface Example {
  command: ShellCommand;
  /** Its simple commands, those inside `$(…)` included, after their leading assignments. */
  simple: string[][];
}

export interface Curl {
  command: ShellCommand;
  call: CurlCall | { problem: string };
  found?: { route: Route; params: Record<string, string> };
}

export interface Readme {
  examples: Example[];
  curls: Curl[];
  /** Curls that send a body to a route that takes JSON; `value` undefined: it does not parse. */
  bodies: { curl: Curl; route: Route; data: string; value: unknown }[];
  /** Blueprint ids the README's output shows, with their kind (a PATCH's config is checked as that kind's). */
  blueprintKinds: Map<string, string>;
}

/** Inner command texts of every `$(…)` in a word. */
function nested(word: string): string[] {
  const inner: string[] = [];
  for (let i = word.indexOf("$("); i >= 0; i = word.indexOf("$(", i + 2)) {
    let depth = 0;
    for (let j = i + 1; j < word.length; j++) {
      if (word[j] === "(") depth++;
      else if (word[j] === ")" && --depth === 0) {
        inner.push(word.slice(i + 2, j));
        break;
      }
    }
  }
  return inner;
}

export function readReadme(markdown: string, routes: readonly Route[]): Readme {
  const variables = new Map<string, string>();
  const examples: Example[] = [];
  const curls: Curl[] = [];
  for (const block of codeBlocks(markdown).filter(isShellBlock)) {
    for (const command of shellCommands(block)) {
      const simple: string[][] = [];
      const visit = (words: string[]) => {
        const { assigned, words: rest } = withoutAssignments(words);
        for (const [name, value] of assigned) variables.set(name, value);
        for (const w of words) for (const text of nested(w)) for (const part of tokenize(text).parts) visit(part);
        if (rest.length > 0) simple.push(rest);
      };
      for (const part of command.parts) visit(part);
      examples.push({ command, simple });
      for (const words of simple) {
        if (words[0] !== "curl") continue;
        const call = parseCurl(words, variables);
        const found = "problem" in call ? undefined : routeFor(routes, call);
        curls.push({ command, call, ...(found ? { found } : {}) });
      }
    }
  }
  const bodies: Readme["bodies"] = [];
  for (const curl of curls) {
    if ("problem" in curl.call || curl.call.data === undefined || !curl.found?.route.jsonBody) continue;
    let value: unknown;
    try {
      value = JSON.parse(curl.call.data);
    } catch {
      value = undefined;
    }
    bodies.push({ curl, route: curl.found.route, data: curl.call.data, value });
  }
  const blueprintKinds = new Map<string, string>();
  for (const { command } of examples) {
    for (const paragraph of command.output) {
      const json = outputJson(paragraph);
      if (!json || "error" in json) continue;
      for (const { value } of json.values) {
        const v = value as Record<string, unknown> | null;
        if (typeof v?.id === "string" && v.id.startsWith("bp_") && typeof v.kind === "string") blueprintKinds.set(v.id, v.kind);
      }
    }
  }
  return { examples, curls, bodies, blueprintKinds };
}

const whereOf = (curl: Curl) => ("problem" in curl.call ? `line ${curl.command.line}` : `line ${curl.command.line}: ${curl.call.method} ${curl.call.url.pathname}`);

/** Each curl names a route (method, path, query) on the service's port, with a token, and sends a body where the route takes one. */
export function curlProblems(readme: Readme): string[] {
  const problems: string[] = [];
  for (const curl of readme.curls) {
    const { call, found } = curl;
    const where = whereOf(curl);
    if ("problem" in call) {
      problems.push(`${where}: ${call.problem}`);
      continue;
    }
    if (call.url.origin !== SERVICE_ORIGIN) problems.push(`${where}: talks to ${call.url.origin}, not the service at ${SERVICE_ORIGIN} (pass its port)`);
    if (!found) {
      problems.push(`${where}: no such route in the OpenAPI document`);
      continue;
    }
    const { route, params } = found;
    if (route.params) problems.push(...schemaProblems(route.params, params).map((p) => `${where}: path ${p}`));
    const query = Object.fromEntries(call.url.searchParams);
    const known = route.query ? Object.keys((route.query as unknown as { shape: object }).shape) : [];
    for (const name of Object.keys(query)) if (!known.includes(name)) problems.push(`${where}: no query parameter ${name} (the route takes ${known.join(", ") || "none"})`);
    if (route.query) problems.push(...schemaProblems(route.query, query).map((p) => `${where}: query ${p}`));
    if (!route.public && !/^Bearer \S+/.test(call.headers.get("authorization") ?? "")) problems.push(`${where}: no Authorization: Bearer header (every route but /healthz needs a token)`);
    // File routes take raw bytes, which the document lists as a non-JSON body.
    const takesBytes = route.path.includes("/files/") && route.method === "PUT";
    if (call.data !== undefined && !route.jsonBody && !takesBytes) problems.push(`${where}: sends a body the route does not take`);
    if (call.data === undefined && route.bodyRequired) problems.push(`${where}: the route needs a body`);
    if (call.data !== undefined && route.jsonBody && !/^application\/json\b/i.test(call.headers.get("content-type") ?? "")) {
      problems.push(`${where}: sends JSON without -H 'content-type: application/json'`);
    }
  }
  return problems;
}

/** The kind whose config a blueprint body holds: its own on create, the README's blueprint's on PATCH. */
function kindOf(readme: Readme, body: Readme["bodies"][number]): string | undefined {
  const value = body.value as { kind?: unknown } | undefined;
  if (body.route.method === "POST" && body.route.path === "/v1/blueprints") return typeof value?.kind === "string" ? value.kind : undefined;
  if (body.route.method === "PATCH" && body.route.path === "/v1/blueprints/{id}") return readme.blueprintKinds.get(body.curl.found!.params.id!);
  return undefined;
}

/** Each JSON request body parses, passes its route's schema, and a blueprint config its kind's parseConfig. */
export function bodyProblems(readme: Readme): string[] {
  const problems: string[] = [];
  for (const body of readme.bodies) {
    const where = whereOf(body.curl);
    if (body.value === undefined) {
      problems.push(`${where}: the body is not valid JSON (${jsonError(body.data)})`);
      continue;
    }
    problems.push(...schemaProblems(body.route.jsonBody!, body.value).map((p) => `${where}: ${p}`));
    const config = (body.value as { config?: unknown }).config;
    if (!body.route.path.startsWith("/v1/blueprints") || config === undefined) continue;
    const kind = kindOf(readme, body);
    const parse = kind === undefined ? undefined : parseConfigOf[kind];
    if (!parse) {
      problems.push(`${where}: cannot tell how to check a config of kind ${kind ?? "(a blueprint whose kind the README does not show)"}`);
      continue;
    }
    try {
      parse(config);
    } catch (error) {
      problems.push(`${where}: ${kind} config: ${(error as Error).message}`);
    }
  }
  return problems;
}

function jsonError(text: string): string {
  try {
    JSON.parse(text);
    return "";
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Each JSON output parses (abbreviations allowed); a lone curl's response has only fields its
 * route returns, and all of them unless abbreviated; server-sent `data:` lines are events.
 */
export function outputProblems(readme: Readme): string[] {
  const problems: string[] = [];
  for (const { command } of readme.examples) {
    const curl = command.parts.length === 1 ? readme.curls.find((c) => c.command === command) : undefined;
    const route = curl?.found?.route;
    for (const paragraph of command.output) {
      for (const line of paragraph.filter((l) => l.startsWith("data: {"))) {
        const { json, elided } = withoutElisions(line.slice("data: ".length));
        const error = jsonError(json);
        if (error) problems.push(`line ${command.line}: event data is not JSON: ${error}`);
        else problems.push(...(elided ? partialProblems(EventSchema, JSON.parse(json)) : schemaProblems(EventSchema, JSON.parse(json))).map((p) => `line ${command.line}: event data: ${p}`));
      }
      const json = outputJson(paragraph);
      if (!json) continue;
      if ("error" in json) {
        problems.push(`line ${command.line}: output is not JSON: ${json.error}`);
        continue;
      }
      if (!route) continue;
      for (const { value, elided } of json.values) {
        const each = route.responses.map((schema) => (elided ? partialProblems(schema, value) : schemaProblems(schema, value)));
        if (!each.some((p) => p.length === 0)) problems.push(`line ${command.line}: the response is none of ${route.method} ${route.path}'s: ${each[0]!.join("; ")}`);
      }
    }
  }
  return problems;
}

/** Every host of a static-hosts config in the README is pinned by an ssh-keyscan of its port, printing the pinned fingerprint. */
export function keyscanProblems(readme: Readme): string[] {
  const hosts = new Map<string, StaticHost[]>();
  for (const body of readme.bodies) {
    const config = (body.value as { config?: unknown } | undefined)?.config;
    if (config === undefined || kindOf(readme, body) !== "static-hosts") continue;
    let parsed;
    try {
      parsed = parseStaticHostsConfig(config);
    } catch {
      continue; // bodyProblems says why
    }
    for (const host of parsed.hosts) hosts.set(host.address, [...(hosts.get(host.address) ?? []), host]);
  }
  const problems: string[] = [];
  const scans = readme.examples.flatMap(({ command, simple }) => simple.filter((w) => w[0] === "ssh-keyscan").map((words) => ({ command, words })));
  for (const [address, configs] of hosts) {
    const host = configs[0]!;
    const ofHost = scans.filter(({ words }) => words.slice(1).some((w) => w.split(",").includes(address)));
    if (ofHost.length === 0) problems.push(`no ssh-keyscan example pins ${host.name} (${address}, port ${host.port})`);
    for (const { command, words } of ofHost) {
      const p = words.indexOf("-p");
      const port = p < 0 ? 22 : Number(words[p + 1]);
      if (port !== host.port) problems.push(`line ${command.line}: ssh-keyscan of ${address} must pass -p ${host.port} (${host.name} listens on port ${host.port}), not scan port ${port}`);
      const shown = host.port === 22 ? address : `[${address}]:${host.port}`;
      for (const out of command.output.flat()) {
        const m = /^\d+ (SHA256:\S+) (\S+) \(\w+\)$/.exec(out);
        if (!m) continue;
        if (m[2] !== shown) problems.push(`line ${command.line}: ssh-keygen prints the host as ${shown}, not ${m[2]}`);
        for (const c of configs) if (c.hostKeyFingerprint !== m[1]) problems.push(`line ${command.line}: ${host.name} pins ${c.hostKeyFingerprint}, the scan prints ${m[1]}`);
      }
    }
  }
  return problems;
}

/** Each `drydock` example uses a subcommand the CLI's usage lists, and only flags listed for it. */
export function cliProblems(readme: Readme, usage: string): string[] {
  const lines = usage.split("\n");
  /** The usage lines of `drydock <sub>`, with their indented continuation lines. */
  const usageOf = (sub: string) => {
    const out: string[] = [];
    lines.forEach((l, i) => {
      if (!new RegExp(`\\bdrydock ${sub.replace(/[^a-z-]/g, "")}\\b`).test(l)) return;
      out.push(l);
      for (let j = i + 1; j < lines.length && /^\s{20,}\S/.test(lines[j]!); j++) out.push(lines[j]!);
    });
    return out.join("\n");
  };
  const problems: string[] = [];
  for (const { command, simple } of readme.examples) {
    for (const words of simple) {
      const at = words[0] === "npx" ? 1 : 0;
      if (words[at] !== "drydock") continue;
      const sub = words[at + 1] ?? "";
      const text = sub ? usageOf(sub) : "";
      if (!text) {
        problems.push(`line ${command.line}: drydock ${sub}: no such subcommand`);
        continue;
      }
      const end = words.indexOf("--");
      for (const w of words.slice(at + 2, end < 0 ? undefined : end)) {
        const flag = /^--[a-z-]+/.exec(w)?.[0];
        if (flag && !text.includes(flag)) problems.push(`line ${command.line}: drydock ${sub} has no ${flag}`);
      }
    }
  }
  return problems;
}
