import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiClient, type ApiHarness } from "./api-harness";

/**
 * Thousands of random and malformed requests (fast-check): random methods, paths (traversal,
 * encoded, Unicode, long), headers (tokens good, bad and revoked, odd values), query strings and
 * bodies (random JSON, deep nesting, huge numbers, wrong types, invalid UTF-8, lone surrogates,
 * oversized). For each: never a 5xx; a refused request (4xx) appends nothing (rows counted); an
 * error is JSON with a code; without a valid token nothing but /healthz and /docs answers 2xx;
 * a client never gets 2xx from the admin's token and event routes. Afterwards the service still
 * serves a whole lease cycle.
 *
 * The allocator worker is stopped while the requests run, so the log moves only by what a
 * request itself appends (a `?wait` request runs its lease's steps itself). FUZZ_RUNS overrides
 * the number of requests; FUZZ_SEED replays a run.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 2500);

let api: ApiHarness;
let alice: ApiClient;
let revokedToken: string;
const ids: string[] = [];

beforeAll(async () => {
  api = await startApi({ rateLimits: { leases: null, commands: null } });
  alice = await api.client("alice");
  const gone = await api.client("gone");
  revokedToken = gone.token;
  expect((await api.call("DELETE", `/v1/tokens/${gone.tokenId}`)).status).toBe(200);
  const lease = await alice.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
  expect(lease.status).toBe(201);
  const authorizations = await api.call("GET", "/v1/authorizations");
  ids.push(lease.body.id, lease.body.resourceId, lease.body.blueprintId, alice.tokenId, gone.tokenId, authorizations.body.items[0].id);
  await api.drydock.worker.stop();
});
afterAll(async () => {
  await api?.close();
});

/* ------------------------------------------------------------------ generators */

const MIB = 1024 * 1024;
const words = ["v1", "leases", "resources", "blueprints", "tokens", "authorizations", "events", "stream", "files", "commands", "release", "renew", "approve", "decline", "revoke", "disable", "enable", "healthz", "docs", "openapi.json", "explain"];
const oddSegments = ["", ".", "..", "%2e%2e", "%2E%2E%2F", "%2F", "..%2F..%2Fetc%2Fpasswd", "..\\..\\windows", "%00", "%ff%fe", "%", "%zz", "%25", "~root", "é", "日本語", "\u202eevil", "𝒳", "%F0%9F%98%80", "%ED%A0%80", "a b", "?", "#", ";x=1", "*", "'", '"', "<script>"];

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...words) },
  { weight: 3, arbitrary: fc.constant(null).map(() => ids[0]!).chain(() => fc.constantFrom(...ids)) },
  { weight: 2, arbitrary: fc.constantFrom(...oddSegments) },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z]{2}_[0-9a-z]{1,44}$/) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom("a".repeat(300), "b".repeat(5000)) },
);

const routes = () => {
  const [lease, resource, blueprint, , token, authorization] = ids;
  return [
    "/v1/leases", `/v1/leases/${lease}`, `/v1/leases/${lease}/events`, `/v1/leases/${lease}/commands`, `/v1/leases/${lease}/files`,
    `/v1/leases/${lease}/files/fuzz/x.txt`, `/v1/leases/${lease}/files/..%2F..%2Fsecret`, `/v1/leases/${lease}/renew`, `/v1/leases/${lease}/release`,
    "/v1/resources", `/v1/resources/${resource}`, `/v1/resources/${resource}/events`, `/v1/resources/${resource}/release`,
    "/v1/blueprints", `/v1/blueprints/${blueprint}`, `/v1/blueprints/${blueprint}/authorizations`, `/v1/blueprints/${blueprint}/events`,
    "/v1/authorizations", `/v1/authorizations/${authorization}`, `/v1/authorizations/${authorization}/approve`, `/v1/authorizations/${authorization}/revoke`,
    "/v1/tokens", `/v1/tokens/${token}`, "/v1/events", "/healthz", "/docs", "/openapi.json",
  ];
};

const path = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null).chain(() => fc.constantFrom(...routes())) },
  { weight: 2, arbitrary: fc.array(segment, { minLength: 1, maxLength: 7 }).map((s) => `/${s.join("/")}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constant(null).chain(() => fc.constantFrom(...routes())), fc.array(segment, { maxLength: 3 })).map(([r, s]) => [r, ...s].join("/")) },
);

const queryValue = fc.oneof(
  fc.constantFrom("0", "1", "-1", "0.5", "1e400", "NaN", "Infinity", "99999999999999999999", "9007199254740993", "abc", "", "%00", "active,", "active,released", "Zm9v", "1:2", "2025-13-45", "1970-01-01T00:00:00Z", "日本"),
  fc.string({ unit: "grapheme", maxLength: 20 }).map(encodeURIComponent),
);
const query = fc.option(
  fc.array(fc.tuple(fc.constantFrom("wait", "limit", "cursor", "status", "owner", "after", "asOf", "list", "resourceType", "resourceId", "client", "state", "x"), queryValue), { maxLength: 4 }).map(
    (pairs) => `?${pairs.map(([k, v]) => `${k}=${k === "wait" ? "0.2" : v}`).join("&")}`,
  ),
  { nil: "" },
);

type Auth = "admin" | "client" | "revoked" | "none" | "garbage";
const auth = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Auth>("admin") },
  { weight: 3, arbitrary: fc.constant<Auth>("client") },
  { weight: 1, arbitrary: fc.constant<Auth>("revoked") },
  { weight: 1, arbitrary: fc.constant<Auth>("none") },
  { weight: 1, arbitrary: fc.constant<Auth>("garbage") },
);
const headerText = fc.array(fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f), { maxLength: 60 }).map((cs) => String.fromCharCode(...cs));
const garbageAuth = fc.oneof(
  headerText,
  headerText.map((t) => `Bearer ${t}`),
  fc.stringMatching(/^[A-Za-z0-9_-]{43}$/).map((t) => `Bearer ddk_${t}`),
  fc.constantFrom("Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bearer  ddk_", `Bearer ${"x".repeat(8000)}`),
);
const extraHeaders = fc.array(
  fc.tuple(fc.constantFrom("x-request-id", "x-drydock-actor", "accept", "accept-encoding", "accept-language", "x-forwarded-for", "cookie", "range", "if-none-match", "x-unknown"), headerText),
  { maxLength: 3 },
);
const contentType = fc.constantFrom("application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", "application/octet-stream", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "application/json; charset=latin1", "");

const junkNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 2 ** 64, 0.1, 1e-320));
const junkString = fc.oneof(fc.string({ unit: "binary", maxLength: 30 }), fc.constantFrom("", "host", "local-host", "..", "../../etc/passwd", "/etc/passwd", "a\u0000b", "\ud800", "x".repeat(5000), "admin", "client", "blueprint:bp_1"));
const junk = fc.oneof(junkNumber, junkString, fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }));
const structured = fc.oneof(
  fc.record({ resourceType: fc.oneof(fc.constant("host"), junk), attributes: fc.oneof(fc.dictionary(junkString, junk, { maxKeys: 5 }), junk), ttlSeconds: junk, blueprintIds: fc.oneof(fc.array(junkString, { maxLength: 3 }), junk) }, { requiredKeys: [] }),
  fc.record({ argv: fc.oneof(fc.constant(["true"]), fc.array(fc.constantFrom("echo", "true"), { minLength: 1, maxLength: 2 }), junk), cwd: junkString, env: fc.oneof(fc.dictionary(junkString, junkString, { maxKeys: 3 }), junk), stdin: junk, timeoutSeconds: junkNumber, shell: junk }, { requiredKeys: [] }),
  fc.record({ owner: junkString, role: fc.oneof(fc.constantFrom("admin", "client"), junk) }, { requiredKeys: [] }),
  fc.record({ client: junkString, reason: junkString, releaseLeases: junk, ttlSeconds: junk }, { requiredKeys: [] }),
  fc.record({ name: junkString, kind: fc.oneof(fc.constant("local-host"), junkString), config: fc.oneof(fc.dictionary(fc.constantFrom("slots", "allowShell", "labels", "x"), junk, { maxKeys: 3 }), junk), resourceLimit: junk }, { requiredKeys: [] }),
);

type Body = { text: string } | { bytes: Uint8Array } | null;
const invalidUtf8 = fc.constantFrom([0xff], [0xfe, 0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf], [0xe2, 0x82], [0x80]);
const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 4, arbitrary: structured.map((v) => ({ text: JSON.stringify(v) })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ text: JSON.stringify(v) })) },
  { weight: 1, arbitrary: fc.integer({ min: 30, max: 50_000 }).map((n) => ({ text: `${"[".repeat(n)}${"]".repeat(n)}` })) },
  { weight: 1, arbitrary: fc.integer({ min: 30, max: 20_000 }).map((n) => ({ text: `{"resourceType":"host","attributes":${'{"a":'.repeat(n)}1${"}".repeat(n)}}` })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"resourceType":"host","ttlSeconds":1e400}',
      '{"resourceType":"host","ttlSeconds":123456789012345678901234567890}',
      '{"resourceType":"host","attributes":{"n":-1e400,"m":1e-400}}',
      '{"resourceType":"host","attributes":{"x":"\\ud800"}}',
      '{"resourceType":"host","attributes":{"\\udfff":1}}',
      '{"name":"\\ud800x","kind":"local-host"}',
      '{"argv":["true"],"timeoutSeconds":1e309}',
      '{"owner":"x","role":"client","owner":"y"}',
      '{"__proto__":{"admin":true},"resourceType":"host"}',
      '{"constructor":{"prototype":{"x":1}}}',
      "{",
      '{"resourceType":"host",}',
      "null",
      "",
      "\ufeff{}",
    ).map((text) => ({ text })),
  },
  { weight: 1, arbitrary: fc.tuple(invalidUtf8, fc.uint8Array({ maxLength: 40 })).map(([bad, rest]) => ({ bytes: Uint8Array.from([...Buffer.from('{"resourceType":"'), ...bad, ...rest, ...Buffer.from('"}')]) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes })) },
  { weight: 1, arbitrary: fc.constantFrom(MIB + 1, 2 * MIB).map((n) => ({ bytes: new Uint8Array(n).fill(0x61) })) },
);

const methods = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE") },
  { weight: 1, arbitrary: fc.constantFrom("HEAD", "OPTIONS", "TRACE-ME", "PROPFIND", "get", "pOsT") },
);

const anyRequest: fc.Arbitrary<FuzzRequest> = fc.record({ method: methods, path, query, auth, garbage: garbageAuth, headers: extraHeaders, contentType, body });
interface FuzzRequest {
  method: string;
  path: string;
  query: string;
  auth: Auth;
  garbage: string;
  headers: [string, string][];
  contentType: string;
  body: Body;
}

/** Bodies aimed at the route that takes them, with JSON content types: to get past routing and parsing into validation and the commands. */
const json = (arb: fc.Arbitrary<unknown>) => arb.map((v): Body => ({ text: JSON.stringify(v) }));
const field = <T>(arb: fc.Arbitrary<T>) => fc.oneof(arb, junk);
const unicodeText = fc.oneof(fc.string({ unit: "binary", maxLength: 20 }), fc.constantFrom("\ud800", "x\udfff", "\u0000", "\u202e", "ok"));
const targets = (): [string, string, fc.Arbitrary<Body>][] => {
  const [lease, resource, blueprint, , token, authorization] = ids;
  return [
    ["POST", "/v1/leases", json(fc.record({ resourceType: field(fc.constant("host")), attributes: field(fc.dictionary(unicodeText, fc.oneof(unicodeText, junk), { maxKeys: 3 })), ttlSeconds: junk, blueprintIds: field(fc.constantFrom([blueprint], [ids[0]])) }, { requiredKeys: ["resourceType"] }))],
    ["POST", `/v1/leases/${lease}/commands`, json(fc.record({ argv: field(fc.constantFrom(["true"], ["echo", "x"])), cwd: field(fc.constantFrom("..", "../..", "/etc", "sub/../..", "a\u0000")), env: field(fc.dictionary(unicodeText, unicodeText, { maxKeys: 3 })), stdin: junk, timeoutSeconds: junkNumber, shell: junk }, { requiredKeys: ["argv"] }))],
    ["POST", `/v1/leases/${lease}/renew`, json(fc.record({ ttlSeconds: junk }))],
    ["PUT", `/v1/leases/${lease}/files/fuzz/${"%2E%2E%2F".repeat(3)}x`, fc.uint8Array({ maxLength: 50 }).map((bytes) => ({ bytes }))],
    ["POST", "/v1/tokens", json(fc.record({ owner: field(unicodeText), role: field(fc.constantFrom("admin", "client")) }, { requiredKeys: [] }))],
    ["DELETE", `/v1/tokens/${token}`, json(fc.record({ reason: field(unicodeText) }, { requiredKeys: [] }))],
    ["POST", "/v1/blueprints", json(fc.record({ name: field(unicodeText), kind: field(fc.constant("local-host")), config: field(fc.dictionary(fc.constantFrom("slots", "labels", "allowShell", "x"), junk, { maxKeys: 2 })), resourceLimit: junk }, { requiredKeys: ["name", "kind"] }))],
    ["PATCH", `/v1/blueprints/${blueprint}`, json(fc.record({ name: field(unicodeText), resourceLimit: junk, config: field(fc.dictionary(fc.constantFrom("labels", "x"), junk, { maxKeys: 2 })) }, { requiredKeys: [] }))],
    ["POST", `/v1/blueprints/${blueprint}/disable`, json(fc.record({ reason: field(unicodeText) }, { requiredKeys: [] }))],
    ["POST", `/v1/blueprints/${blueprint}/authorizations`, json(fc.record({ client: field(unicodeText) }, { requiredKeys: [] }))],
    ["POST", `/v1/authorizations/${authorization}/decline`, json(fc.record({ reason: field(unicodeText) }, { requiredKeys: [] }))],
    ["POST", `/v1/authorizations/${authorization}/revoke`, json(fc.record({ reason: field(unicodeText), releaseLeases: junk }, { requiredKeys: [] }))],
    ["POST", `/v1/resources/${resource}/release`, json(fc.record({ reason: field(unicodeText) }, { requiredKeys: [] }))],
  ];
};
const targeted: fc.Arbitrary<FuzzRequest> = fc
  .constant(null)
  .chain(() => fc.constantFrom(...targets()))
  .chain(([method, route, bodyArb]) =>
    fc.record({
      method: fc.constant(method),
      path: fc.constant(route),
      query: fc.constant(""),
      auth: fc.constantFrom<Auth>("admin", "admin", "client"),
      garbage: fc.constant(""),
      headers: fc.constant([] as [string, string][]),
      contentType: fc.constantFrom("application/json", "application/json; charset=utf-8", "application/octet-stream"),
      body: bodyArb,
    }),
  );
const request = fc.oneof(anyRequest, targeted);

/* ------------------------------------------------------------------ the property */

function toRequest(r: FuzzRequest): Request | null {
  const headers = new Headers();
  try {
    for (const [name, value] of r.headers) headers.append(name, value);
    const token = { admin: api.adminToken, client: alice.token, revoked: revokedToken, none: null, garbage: null }[r.auth as Auth];
    if (token) headers.set("Authorization", `Bearer ${token}`);
    if (r.auth === "garbage") headers.set("Authorization", r.garbage);
    if (r.contentType) headers.set("content-type", r.contentType);
    const withBody = r.body !== null && r.method.toUpperCase() !== "GET" && r.method.toUpperCase() !== "HEAD";
    const payload = r.body === null ? undefined : "text" in r.body ? r.body.text : r.body.bytes;
    return new Request(`http://localhost${r.path}${r.query}`, { method: r.method, headers, ...(withBody ? { body: payload as RequestInit["body"] } : {}), signal: AbortSignal.timeout(3_000) });
  } catch {
    return null; // not a request HTTP can carry (a method or header fetch refuses): nothing to send
  }
}

async function bodyOf(res: Response): Promise<string> {
  if (/event-stream/.test(res.headers.get("content-type") ?? "")) {
    await res.body?.cancel();
    return "";
  }
  return res.text();
}

describe("hostile input", () => {
  it("examples the fuzzing found: lone surrogates (which jsonb refuses) are a 400 naming the field, not a failed append", async () => {
    const localHost = await api.localHostBlueprintId();
    for (const [method, url, text, field] of [
      ["PATCH", `/v1/blueprints/${localHost}`, '{"name":"\\ud800"}', "name"],
      ["POST", "/v1/blueprints", '{"name":"x\\udfff","kind":"local-host"}', "name"],
      ["POST", "/v1/leases", '{"resourceType":"host","attributes":{"labels":"\\ud800"}}', "attributes"],
      ["POST", "/v1/leases", '{"resourceType":"host","attributes":{"\\udfff":1}}', "attributes"],
      ["POST", `/v1/blueprints/${localHost}/disable`, '{"reason":"\\udbff"}', "reason"],
    ] as const) {
      const before = await api.eventCount();
      const res = await api.call(method, url, text);
      expect(res.status, `${method} ${url} ${text}`).toBe(400);
      expect(res.body.error.message).toMatch(new RegExp(`^${field}: .*(lone surrogates)`));
      expect(await api.eventCount()).toBe(before);
    }
  });

  it(
    `${RUNS} random and malformed requests: no 5xx, nothing appended by a refused one, no way in without a valid token`,
    async () => {
      let sent = 0;
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const req = toRequest(r);
          fc.pre(req !== null);
          const before = await api.eventCount();
          const res = await api.app.fetch(req!);
          const text = await bodyOf(res);
          sent++;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const what = `${r.method} ${r.path}${r.query} as ${r.auth} → ${res.status} ${text.slice(0, 300)}`;
          expect(res.status, what).toBeLessThan(500);
          if (res.status >= 400) {
            expect(await api.eventCount(), `refused but appended: ${what}`).toBe(before);
            if ((res.headers.get("content-type") ?? "").includes("json") && r.method.toUpperCase() !== "HEAD") expect(JSON.parse(text).error.code, what).toEqual(expect.any(String));
          }
          const pathname = new URL(req!.url).pathname;
          // Without a valid token only the public routes answer: the health check, and the pages of
          // /docs and the console (shells with no data; their scripts ask the API with a token).
          if (res.status < 400 && !(r.auth === "admin" || r.auth === "client")) expect(pathname, what).toMatch(/^\/(healthz|docs(\/assets\/[^/]+)?|console(\/.*)?)?$/);
          if (res.status < 400 && r.auth === "client") expect(pathname, what).not.toMatch(/^\/v1\/(tokens|events)(\/|$)/);
        }),
        { numRuns: RUNS, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
      );
      // The mix reached the service: refusals of every kind, and some requests that were served.
      expect(sent).toBeGreaterThan(RUNS * 0.9);
      for (const status of [200, 400, 401, 403, 404]) expect(statuses.get(status) ?? 0, `${status} in ${JSON.stringify([...statuses])}`).toBeGreaterThan(0);
    },
    120_000,
  );

  it("the service answers normally afterwards: a new client leases, runs a command and releases", async () => {
    await api.drydock.worker.start();
    expect((await api.as(null).call("GET", "/healthz")).status).toBe(200);
    const blueprint = await api.call("POST", "/v1/blueprints", { name: `after-fuzz-${Date.now()}`, kind: "local-host", config: { root: `${api.root}/after`, slots: 1 } });
    expect(blueprint.status, blueprint.text).toBe(201);
    const after = await api.client(`after-${Date.now()}`, { blueprintIds: [blueprint.body.id] });
    // The worker was stopped during the fuzzing, and the leases the fuzzer got accepted (as admin,
    // so for any host blueprint, the new one included) would take its only slot: give them back.
    for (let round = 0; round < 20; round++) {
      const live = await api.call("GET", "/v1/leases?status=pending,acquired,active&limit=200");
      const others = live.body.items.filter((l: { owner: string }) => !l.owner.startsWith("after-"));
      if (others.length === 0) break;
      for (const l of others) await api.call("POST", `/v1/leases/${l.id}/release`, {});
    }
    const lease = await after.call("POST", "/v1/leases?wait=90", { resourceType: "host", blueprintIds: [blueprint.body.id] });
    expect(lease.status, lease.text).toBe(201);
    const echo = await after.call("POST", `/v1/leases/${lease.body.id}/commands`, { argv: ["echo", "still here"] });
    expect(echo.body).toMatchObject({ exitCode: 0, stdout: "still here\n" });
    expect((await after.call("POST", `/v1/leases/${lease.body.id}/release`, {})).status).toBe(200);
    await after.pollLease(lease.body.id, (l) => l.status === "destroyed", 60_000);
  }, 180_000);
});
