import { createHash, randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { yes, type BlueprintImplementation } from "../../src/blueprints/blueprint";
import { PermanentFailure } from "../../src/blueprints/failures";
import { InterfaceUnavailableError } from "../../src/domain/errors";
import { parseOrThrow } from "../../src/domain/parse";
import { projectionTables } from "../../src/store/schema";
import { startApi, type ApiHarness, type Caller } from "./api-harness";

/**
 * Secrets never show up where they must not: a full scenario (tokens issued and revoked, leases,
 * commands, files, a blueprint whose config references a private key by environment variable and
 * whose resources use it), then every row of every table (all columns), everything the service
 * logged and every response body and header are searched for the tokens and the key material.
 * The only place a token may appear is the one response that issues it.
 */

const KEY_ENV = `DRYDOCK_TEST_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
const keyBody = randomBytes(180).toString("base64");
const keyMaterial = `-----BEGIN OPENSSH PRIVATE KEY-----\n${keyBody}\n-----END OPENSSH PRIVATE KEY-----\n`;
const fingerprintOf = (key: string) => `SHA256:${createHash("sha256").update(key).digest("base64").slice(0, 43)}`;

/** `keyed-pool` (type `keyed`): resources built with a private key its config names by env var. */
const keyedConfig = z.strictObject({ privateKey: z.strictObject({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/) }) });
function keyedPoolBlueprint(): BlueprintImplementation<z.infer<typeof keyedConfig>> {
  return {
    kind: "keyed-pool",
    resourceType: "keyed",
    description: "Test pool whose resources need a private key, referenced by env var.",
    parseConfig: (raw) => parseOrThrow(keyedConfig, raw ?? {}, "config"),
    defaultResourceLimit: () => 1,
    canEverAllocate: () => yes,
    planResource: () => ({ attributes: {}, leaseSlots: 2, locks: [], heldLeases: [] }),
    canAcquire: () => yes,
    shouldAllocateSupplemental: () => false,
    async activateResource(bp) {
      // Resolved when used, from the reference; only a fingerprint may be recorded.
      const key = process.env[bp.config.privateKey.env];
      if (!key) throw new PermanentFailure(`no key in $${bp.config.privateKey.env}`);
      return { keyFingerprint: fingerprintOf(key) };
    },
    async destroyResource() {},
    async activateLease() {
      return { workingDirectory: null };
    },
    async destroyLease() {},
    async interfaces() {
      throw new InterfaceUnavailableError("keyed-pool resources have no interfaces");
    },
  };
}

let api: ApiHarness;
const logged: string[] = [];
const responses: { what: string; text: string; headers: string }[] = [];
const issued: { token: string; response: string }[] = [];

/** A caller whose every response is kept for the scan. */
function recorded(caller: Caller, who: string): Caller {
  return {
    async call(method, url, body, headers) {
      const res = await caller.call(method, url, body, headers);
      const entry = { what: `${who} ${method} ${url} → ${res.status}`, text: res.text, headers: JSON.stringify([...res.headers.entries()]) };
      if (method === "POST" && url === "/v1/tokens" && res.status === 201) issued.push({ token: res.body.token, response: res.text });
      else responses.push(entry);
      return res;
    },
    pollLease: (id, accept, timeoutMs) => caller.pollLease(id, accept, timeoutMs),
  };
}

beforeAll(async () => {
  process.env[KEY_ENV] = keyMaterial;
  // Everything the service prints from here on is kept (and not shown).
  const keep =
    (stream?: "out" | "err") =>
    (...args: unknown[]) => {
      logged.push(args.map((a) => (typeof a === "string" ? a : a instanceof Uint8Array ? Buffer.from(a).toString("utf8") : a instanceof Error ? `${a.message}\n${a.stack}` : JSON.stringify(a))).join(" "));
      return stream ? true : undefined;
    };
  for (const level of ["log", "error", "warn", "info", "debug"] as const) vi.spyOn(console, level).mockImplementation(keep());
  vi.spyOn(process.stdout, "write").mockImplementation(keep("out") as never);
  vi.spyOn(process.stderr, "write").mockImplementation(keep("err") as never);
  api = await startApi({}, { blueprints: [keyedPoolBlueprint()] });
});
afterAll(async () => {
  await api?.close();
  vi.restoreAllMocks();
  delete process.env[KEY_ENV];
});

describe("secrets stay out of the log, the logs and the responses", () => {
  it("after a full scenario, no token and no key material is found anywhere but in the response that issued the token", async () => {
    const admin = recorded(api, "admin");
    const tokenOf = async (owner: string) => {
      const res = await admin.call("POST", "/v1/tokens", { owner, role: "client" });
      expect(res.status).toBe(201);
      return { token: res.body.token as string, id: res.body.id as string };
    };
    const [alice, bob, gone] = [await tokenOf("alice"), await tokenOf("bob"), await tokenOf("gone")];
    const asAlice = recorded(api.as(alice.token), "alice");
    const asBob = recorded(api.as(bob.token), "bob");

    // A blueprint whose config references the key; a reference is all the config may hold.
    const keyed = await admin.call("POST", "/v1/blueprints", { name: "keyed", kind: "keyed-pool", config: { privateKey: { env: KEY_ENV } } });
    expect(keyed.status, keyed.text).toBe(201);
    expect(keyed.body.config).toEqual({ privateKey: { env: KEY_ENV } });
    expect((await admin.call("POST", "/v1/blueprints", { name: "pasted", kind: "keyed-pool", config: { privateKey: keyMaterial } })).status).toBe(400);
    if (api.drydock.registry.has("static-hosts")) {
      const hosts = await admin.call("POST", "/v1/blueprints", {
        name: "ssh-hosts",
        kind: "static-hosts",
        config: { hosts: [{ name: "h1", address: "127.0.0.1", user: "build", privateKey: { env: KEY_ENV }, hostKeyFingerprint: `SHA256:${"A".repeat(43)}` }] },
      });
      expect(hosts.status, hosts.text).toBe(201);
    }
    for (const blueprintId of [await api.localHostBlueprintId(), keyed.body.id]) {
      const asked = await asAlice.call("POST", `/v1/blueprints/${blueprintId}/authorizations`);
      expect((await admin.call("POST", `/v1/authorizations/${asked.body.id}/approve`)).status).toBe(200);
    }

    // Leases, commands (the service's environment, key included, is not theirs), files.
    const host = await asAlice.call("POST", "/v1/leases?wait=10", { resourceType: "host", ttlSeconds: 600 });
    expect(host.status, host.text).toBe(201);
    const id = host.body.id;
    const env = await asAlice.call("POST", `/v1/leases/${id}/commands`, { argv: ["env"], env: { GREETING: "hello" } });
    expect(env.body.stdout).toContain("GREETING=hello");
    expect(env.body.stdout).not.toContain(KEY_ENV);
    await asAlice.call("POST", `/v1/leases/${id}/commands`, { argv: ["sh", "-c", "echo out; echo err >&2; exit 3"] });
    await asAlice.call("POST", `/v1/leases/${id}/commands`, { argv: ["no-such-program-here"] });
    await asAlice.call("PUT", `/v1/leases/${id}/files/notes/a.txt`, "some notes", { "content-type": "application/octet-stream" });
    await asAlice.call("GET", `/v1/leases/${id}/files/notes/a.txt`);
    await asAlice.call("GET", `/v1/leases/${id}/files/notes?list=1`);
    await asAlice.call("GET", `/v1/leases/${id}/files/..%2F..%2Fetc%2Fpasswd`);
    await asAlice.call("POST", `/v1/leases/${id}/renew`, { ttlSeconds: 1200 });
    const keyedLease = await asAlice.call("POST", "/v1/leases?wait=10", { resourceType: "keyed" });
    expect(keyedLease.status, keyedLease.text).toBe(201);
    const resource = await asAlice.call("GET", `/v1/resources/${keyedLease.body.resourceId}`);
    expect(resource.body.attributes.keyFingerprint).toBe(fingerprintOf(keyMaterial));

    // What others try: another client, wrong, mangled and revoked tokens, a client at admin routes.
    await asBob.call("GET", `/v1/leases/${id}`);
    await asBob.call("POST", `/v1/leases/${id}/commands`, { argv: ["env"] });
    await asBob.call("GET", "/v1/tokens");
    await asBob.call("POST", "/v1/leases", { resourceType: "host" });
    expect((await admin.call("DELETE", `/v1/tokens/${gone.id}`)).status).toBe(200);
    await recorded(api.as(gone.token), "revoked").call("GET", "/v1/leases");
    await recorded(api.as(null), "mangled").call("GET", "/v1/leases", undefined, { Authorization: `Bearer ${alice.token.slice(0, -1)}` });
    await recorded(api.as(null), "anonymous").call("GET", "/v1/leases");

    // Done: release, let cleanup run, then read everything back as the admin.
    for (const lease of [id, keyedLease.body.id]) expect((await asAlice.call("POST", `/v1/leases/${lease}/release`, {})).status).toBe(200);
    for (const lease of [id, keyedLease.body.id]) await api.pollLease(lease, (l) => l.status === "destroyed");
    for (const url of ["/v1/tokens?limit=200", "/v1/authorizations", "/v1/blueprints", "/v1/resources", "/v1/leases", `/v1/leases/${id}/events`, `/v1/blueprints/${keyed.body.id}/events`]) {
      expect((await admin.call("GET", url)).status, url).toBe(200);
    }
    for (let after = ""; ; ) {
      const page = await admin.call("GET", `/v1/events?limit=1000${after ? `&after=${after}` : ""}`);
      if (page.body.items.length === 0) break;
      after = page.body.nextCursor;
    }

    // The needles: every token (the harness's admin token too) and the key, whole and in part.
    const tokens = [api.adminToken, alice.token, bob.token, gone.token];
    const needles = [...tokens, keyMaterial, keyBody, keyBody.slice(40, 100)];
    const findIn = (where: string, haystack: string) => needles.filter((n) => haystack.includes(n)).map((n) => `${where}: ${tokens.includes(n) ? "a token" : "key material"}`);

    const tables = ["events", "streams", ...projectionTables];
    const rows: string[] = [];
    for (const table of tables) {
      const result = await sql<{ row: string }>`SELECT row_to_json(t)::text AS row FROM ${sql.table(table)} t`.execute(api.drydock.database.db);
      rows.push(...result.rows.map((r) => `${table}: ${r.row}`));
    }
    expect(rows.some((r) => r.startsWith("events:") && r.includes("TokenIssued"))).toBe(true);

    const found = [
      ...rows.flatMap((r) => findIn(r.slice(0, r.indexOf(":")), r)),
      ...logged.flatMap((line) => findIn("log", line)),
      ...responses.flatMap((r) => findIn(r.what, r.text + r.headers)),
    ];
    expect(found).toEqual([]);
    // The capture works (or an empty log would prove nothing).
    console.error("capture check", { token: "not-a-token" });
    expect(logged.at(-1)).toBe('capture check {"token":"not-a-token"}');
    expect(responses.length).toBeGreaterThan(30);
    expect(rows.length).toBeGreaterThan(50);

    // The issuing response holds its own token and nothing else secret.
    expect(issued).toHaveLength(3);
    for (const { token, response } of issued) {
      expect(response).toContain(token);
      expect(needles.filter((n) => n !== token && response.includes(n))).toEqual([]);
    }
  });
});
