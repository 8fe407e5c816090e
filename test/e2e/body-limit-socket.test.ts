import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { listenOnLoopback, type LoopbackServer } from "../support/loopback-server";
import { startApi, type ApiHarness } from "./api-harness";

// The body limit over a real socket, where @hono/node-server's lightweight request is in play: a
// body with a Content-Length is judged by the header, a chunked one is counted as it arrives, and
// a route still reads either body whole. (api-errors.test.ts covers app.request().)

const LIMIT = 256;
let api: ApiHarness;
let server: LoopbackServer;

beforeAll(async () => {
  api = await startApi();
  server = await listenOnLoopback(createApp(api.drydock, { maxBodyBytes: LIMIT }).fetch);
});
afterAll(async () => {
  await server?.close();
  await api?.close();
});

/** Sends `chunks` as the body: chunked unless `length` says to send a Content-Length. */
function send(method: string, path: string, chunks: string[], contentType: string, length: "content-length" | "chunked"): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${api.adminToken}`, "content-type": contentType };
    if (length === "content-length") headers["content-length"] = String(Buffer.byteLength(chunks.join("")));
    const req = http.request({ host: "127.0.0.1", port: server.port, method, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (p: Buffer) => parts.push(p));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString();
        resolve({ status: res.statusCode ?? 0, body: res.headers["content-type"]?.includes("json") ? JSON.parse(text) : text });
      });
    });
    // A refusal may answer before the whole body is sent and close the socket under it.
    req.on("error", reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** A lease request padded with spaces (still valid JSON) to `bytes`. */
const leaseBody = (bytes: number) => JSON.stringify({ resourceType: "host", ttlSeconds: 1234 }).padEnd(bytes, " ");

describe("request body limit on a real socket", () => {
  for (const length of ["content-length", "chunked"] as const) {
    it(`refuses a body over the limit sent with ${length}, appending nothing`, async () => {
      const before = await api.eventCount();
      const body = leaseBody(LIMIT + 1);
      const res = await send("POST", "/v1/leases", [body.slice(0, 100), body.slice(100)], "application/json", length);
      expect(res.status).toBe(413);
      expect(res.body.error).toMatchObject({ code: "payload_too_large", details: { limit: LIMIT } });
      expect(await api.eventCount()).toBe(before);
    });

    it(`reads a body under the limit sent with ${length} whole`, async () => {
      const body = leaseBody(LIMIT);
      const res = await send("POST", "/v1/leases?wait=20", [body.slice(0, 10), body.slice(10)], "application/json", length);
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      expect(res.body).toMatchObject({ resourceType: "host", ttlSeconds: 1234, status: "active" });
      const file = await send("PUT", `/v1/leases/${res.body.id}/files/note.txt`, ["hello ", "world"], "application/octet-stream", length);
      expect(file.status, JSON.stringify(file.body)).toBeLessThan(300);
      const read = await api.app.request(`/v1/leases/${res.body.id}/files/note.txt`);
      expect(await read.text()).toBe("hello world");
      expect((await api.call("POST", `/v1/leases/${res.body.id}/release`)).status).toBe(200);
    });
  }
});
