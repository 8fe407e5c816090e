import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { createLogger } from "../../src/service/logger";
import type { Drydock } from "../../src/service/drydock";
import { openDatabase } from "../../src/store/database";
import { startApi, type ApiHarness } from "./api-harness";

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});

/** Runs `request` and checks it appended nothing to the log; returns its response. */
async function refused(request: () => ReturnType<ApiHarness["call"]>) {
  const before = await api.eventCount();
  const res = await request();
  expect(await api.eventCount()).toBe(before);
  expect(res.status).toBeLessThan(500);
  expect(res.body?.error?.code, res.text).toBeTruthy();
  return res;
}

describe("bad lease requests are refused with nothing appended", () => {
  it("422 for a resource type no blueprint provides, naming it", async () => {
    const res = await refused(() => api.call("POST", "/v1/leases", { resourceType: "quantum-computer" }));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("unsatisfiable");
    expect(res.body.error.message).toContain("quantum-computer");
    expect(res.body.error.details.field).toBe("resourceType");
  });

  it("400 for malformed JSON", async () => {
    const res = await refused(() => api.call("POST", "/v1/leases", '{"resourceType": "host",'));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation_failed", message: "body: malformed JSON" });
  });

  it("400 naming a missing field", async () => {
    const res = await refused(() => api.call("POST", "/v1/leases", { attributes: {} }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.message).toBe("resourceType: Required");
    expect(res.body.error.details.issues).toEqual([{ field: "resourceType", message: "Required" }]);
  });

  it.each([["abc"], [-5], [1e20], [1.5], [0], [2592001]])("400 for ttlSeconds %s", async (ttlSeconds) => {
    const res = await refused(() => api.call("POST", "/v1/leases", { resourceType: "host", ttlSeconds }));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^ttlSeconds: /);
  });

  it.each([
    [{ resourceType: "Host" }, "resourceType"],
    [{ resourceType: "" }, "resourceType"],
    [{ resourceType: "host", ttl: 5 }, "ttl"],
    [{ resourceType: "host", attributes: "linux" }, "attributes"],
    [{ resourceType: "host", attributes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }, "attributes"],
    [{ resourceType: "host", attributes: { os: "linux\u0000" } }, "attributes"],
    [{ resourceType: "host", blueprintIds: ["not an id"] }, "blueprintIds.0"],
    [[], "body"],
  ])("400 for %j, naming %s", async (body, field) => {
    const res = await refused(() => api.call("POST", "/v1/leases", body));
    expect(res.status).toBe(400);
    expect(res.body.error.message.startsWith(`${field}: `), res.body.error.message).toBe(true);
  });

  it("400 for deeply nested attributes", async () => {
    let deep: unknown = "x";
    for (let i = 0; i < 100; i++) deep = { a: deep };
    const res = await refused(() => api.call("POST", "/v1/leases", { resourceType: "host", attributes: { deep } }));
    expect(res.status).toBe(400);
  });

  it("415 for a body that is not JSON", async () => {
    const res = await refused(() => api.call("POST", "/v1/leases", "resourceType=host", { "content-type": "application/x-www-form-urlencoded" }));
    expect(res.status).toBe(415);
  });

  it.each([["?wait=abc"], ["?wait=-1"], ["?wait=301"]])("400 for %s", async (query) => {
    const res = await refused(() => api.call("POST", `/v1/leases${query}`, { resourceType: "host" }));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^wait: /);
  });

  it.each([["?limit=0"], ["?limit=201"], ["?limit=x"], ["?status=gone"], ["?status=active,"], ["?cursor=!!!"], ["?cursor=Zm9v"], ["?owner=a%00b"], ["?resourceId=x"]])(
    "400 for GET /v1/leases%s",
    async (query) => {
      const res = await api.call("GET", `/v1/leases${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("validation_failed");
    },
  );
});

describe("ids and routes that do not exist", () => {
  it.each([
    ["GET", "/v1/leases/ls_0000000000000000000000"],
    ["GET", "/v1/leases/nope"],
    ["GET", "/v1/leases/LS_UPPER"],
    ["GET", `/v1/leases/ls_${"a".repeat(41)}`],
    ["GET", "/v1/leases/%00"],
    ["GET", "/v1/leases/ls_0000000000000000000000/events"],
    ["GET", "/v1/leases/'%20or%201=1/events"],
    ["POST", "/v1/leases/ls_0000000000000000000000/release"],
    ["POST", "/v1/leases/bad-id/release"],
    ["GET", "/v1/leases/ls_0000000000000000000000/files"],
    ["GET", "/v1/leases/bad-id/files/x.txt"],
    ["GET", "/v1/resources/rs_0000000000000000000000"],
    ["GET", "/v1/resources/nope/events"],
    ["GET", "/v1/blueprints/bp_0000000000000000000000"],
    ["GET", "/v1/blueprints/..%2F..%2Fetc"],
    ["GET", "/v1/nothing-here"],
  ])("%s %s → 404", async (method, url) => {
    const res = await refused(() => api.call(method, url));
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });

  it("404 for unknown ids on commands and renew, before looking at the body", async () => {
    for (const url of ["/v1/leases/ls_0000000000000000000000/commands", "/v1/leases/bad/commands"]) {
      const res = await refused(() => api.call("POST", url, { argv: ["true"] }));
      expect(res.status).toBe(404);
    }
    const renew = await refused(() => api.call("POST", "/v1/leases/ls_0000000000000000000000/renew", { ttlSeconds: 5 }));
    expect(renew.status).toBe(404);
  });
});

describe("lease interfaces refuse what they must", () => {
  it("refuses a path outside the lease and commands on a released lease", async () => {
    const created = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(created.status).toBe(201);
    const id = created.body.id;

    for (const path of ["..%2Fetc%2Fpasswd", "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "a%2F..%2F..%2Fx", "%2Fetc%2Fpasswd", "x%00y"]) {
      const read = await refused(() => api.call("GET", `/v1/leases/${id}/files/${path}`));
      expect(read.status, path).toBe(400);
      expect(read.body.error.code, path).toBe("path_outside_lease");
      const write = await refused(() => api.call("PUT", `/v1/leases/${id}/files/${path}`, "pwned", { "content-type": "text/plain" }));
      expect(write.status, path).toBe(400);
      expect(write.body.error.code).toBe("path_outside_lease");
    }
    const missing = await refused(() => api.call("GET", `/v1/leases/${id}/files/nope.txt`));
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("file_not_found");

    expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
    // Its cleanup (LeaseDestroyed, appended by the worker) would otherwise land in a count below.
    await api.pollLease(id, (l) => l.status === "destroyed");
    const exec = await refused(() => api.call("POST", `/v1/leases/${id}/commands`, { argv: ["uptime"] }));
    expect(exec.status).toBe(409);
    expect(exec.body.error.code).toBe("transition_refused");
    expect(exec.body.error.message).toMatch(/destroyed/);
    const file = await refused(() => api.call("GET", `/v1/leases/${id}/files`));
    expect(file.status).toBe(409);
  });
});

describe("body limits", () => {
  it("413 past the default 1 MiB limit", async () => {
    const big = JSON.stringify({ resourceType: "host", attributes: { pad: "x".repeat(1024 * 1024) } });
    const res = await refused(() => api.call("POST", "/v1/leases", big));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
  });

  it("413 past a configured limit, for JSON and for file bytes", async () => {
    const small = createApp(api.drydock, { maxBodyBytes: 64, maxFileBytes: 64 });
    const before = await api.eventCount();
    const auth = { Authorization: `Bearer ${api.adminToken}` };
    const res = await small.request("/v1/leases", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", "content-length": "200" },
      body: JSON.stringify({ resourceType: "host", attributes: { pad: "x".repeat(150) } }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.code).toBe("payload_too_large");
    const file = await small.request("/v1/leases/ls_0000000000000000000000/files/a.bin", { method: "PUT", headers: { ...auth, "content-length": "100" }, body: new Uint8Array(100) });
    expect(file.status).toBe(413);
    expect(((await file.json()) as any).error).toMatchObject({ code: "payload_too_large", details: { limit: 64 } });
    // A file upload has a limit of its own: bytes past the body limit, under the file limit, are not refused as too large.
    const roomy = createApp(api.drydock, { maxBodyBytes: 64, maxFileBytes: 1024 });
    const under = await roomy.request("/v1/leases/ls_0000000000000000000000/files/a.bin", { method: "PUT", headers: { ...auth, "content-length": "100" }, body: new Uint8Array(100) });
    expect(under.status).toBe(404);
    expect(await api.eventCount()).toBe(before);
  });
});

describe("system routes", () => {
  it("serves the OpenAPI document, Swagger UI and health", async () => {
    const doc = await api.call("GET", "/openapi.json");
    expect(doc.status).toBe(200);
    expect(doc.body.info).toMatchObject({ title: "Drydock", version: "0.1.0" });
    for (const path of ["/v1/leases", "/v1/leases/{id}", "/v1/leases/{id}/commands", "/v1/leases/{id}/files/{path}", "/v1/events", "/v1/blueprints/{id}"]) {
      expect(doc.body.paths, path).toHaveProperty([path]);
    }
    expect(doc.body.paths["/v1/leases/{id}/files/{path}"]).toHaveProperty("put");
    expect(doc.body.components.schemas).toHaveProperty("Lease");

    const docs = await api.app.request("/docs");
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toMatch(/text\/html/);
    expect(await docs.text()).toMatch(/swagger/i);

    const health = await api.call("GET", "/healthz");
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: "ok", database: api.drydock.database.kind });
  });

  it("503 from /healthz when the database is gone", async () => {
    const gone = await openDatabase({});
    await gone.close();
    const app = createApp({ ...api.drydock, database: gone } as Drydock);
    const res = await app.request("/healthz");
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "unavailable" });
  });

  it("500 hides the cause, logs it and gives the request id", async () => {
    const store = Object.create(api.drydock.store);
    store.readStream = async () => {
      throw new Error("connection string postgres://secret@db");
    };
    const lines: string[] = [];
    const logger = createLogger({ level: "info", pretty: false, write: (line) => lines.push(line) });
    const app = createApp({ ...api.drydock, store, logger } as Drydock);
    const res = await app.request("/v1/leases/ls_0000000000000000000000/events", { headers: { "X-Request-Id": "trace-500", Authorization: `Bearer ${api.adminToken}` } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: "internal", message: "internal error", requestId: "trace-500" } });
    expect(text).not.toContain("secret");
    expect(res.headers.get("x-request-id")).toBe("trace-500");
    // The operator's log has the cause, under the request's id.
    const failed = lines.map((l) => JSON.parse(l)).find((r) => r.msg === "request failed");
    expect(failed).toMatchObject({ level: "error", requestId: "trace-500", err: { message: "connection string postgres://secret@db" } });
  });

  it("puts the request id on error responses too", async () => {
    const res = await api.call("GET", "/v1/leases/nope", undefined, { "X-Request-Id": "abc-1" });
    expect(res.status).toBe(404);
    expect(res.headers.get("x-request-id")).toBe("abc-1");
  });
});
