import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { liveMemory } from "../support/live-memory";
import { listenOnLoopback, type LoopbackServer } from "../support/loopback-server";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiClient, type ApiHarness } from "./api-harness";

/**
 * PUT /v1/leases/{id}/files/{path} over a real socket: an upload streams to the lease as it
 * arrives (up to DRYDOCK_MAX_FILE_BYTES, 1 GiB by default; every other body stays under 1 MiB),
 * and the file is replaced only once all of it is in. An upload over its limit, or one whose
 * client hangs up half way, leaves the file as it was and no temporary file beside it. Both
 * local adapters: an admin's lease writes in the service's process, a client's through the
 * helper in its sandbox.
 */
const MIB = 1024 * 1024;
const LIMIT = 64 * MIB;

let api: ApiHarness;
let home: string;
let server: LoopbackServer | undefined;
let alice: ApiClient;

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), "drydock-home-"));
  api = await startApi({}, { localHost: { root: path.join(home, "local-host"), slots: 4 }, sandbox: { hidden: [home] } });
  // The service as `drydock serve` runs it, with a file limit small enough to cross in a test.
  const app = createApp(api.drydock, { maxFileBytes: LIMIT });
  server = await listenOnLoopback((req, env) => app.fetch(req, env as never));
  alice = await api.client("alice");
});

afterAll(async () => {
  await server?.close();
  await api?.close();
  await rm(home, { recursive: true, force: true });
});

/** Starts an upload without a Content-Length (chunked), as a client piping a stream sends it. */
function startPut(token: string, leaseId: string, file: string): { req: ClientRequest; response: Promise<IncomingMessage> } {
  const req = request({ host: "127.0.0.1", port: server!.port, method: "PUT", path: `/v1/leases/${leaseId}/files/${file}`, headers: { Authorization: `Bearer ${token}` } });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
  });
  return { req, response };
}

/** Writes `total` random bytes in 256 KiB chunks, waiting for the socket as a streaming client does; their sha256. */
async function send(req: ClientRequest, total: number): Promise<string> {
  const hash = createHash("sha256");
  for (let sent = 0; sent < total; ) {
    const chunk = randomBytes(Math.min(256 * 1024, total - sent));
    hash.update(chunk);
    sent += chunk.length;
    if (!req.write(chunk)) await new Promise((resolve) => req.once("drain", resolve));
  }
  return hash.digest("hex");
}

async function text(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts).toString("utf8");
}

describe.each(["admin", "client"] as const)("uploading a file to a lease (%s)", (who) => {
  let caller: ApiClient | ApiHarness;
  let token: string;
  let id: string;
  const run = async (script: string) => {
    const ran = await caller.call("POST", `/v1/leases/${id}/commands`, { argv: ["sh", "-c", script] });
    expect(ran.body?.exitCode, ran.text).toBe(0);
    return ran.body.stdout as string;
  };
  /** The directory's entries, hidden ones included: a temporary file (`.name.drydock-….tmp`) would show here. */
  const entries = async () => (await run("ls -A up")).split("\n").filter(Boolean);

  beforeAll(async () => {
    caller = who === "admin" ? api : alice;
    token = who === "admin" ? api.adminToken : alice.token;
    const created = await caller.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
    if (created.status !== 201 || created.body.status !== "active") throw new Error(`no active lease: ${created.status} ${created.text}`);
    id = created.body.id;
    await run("mkdir up && printf 'as it was' > up/kept.txt");
  });

  it("streams a 48 MiB upload sent without a Content-Length into the lease: it arrives whole, and the service does not hold it", async () => {
    const before = await liveMemory();
    const { req, response } = startPut(token, id, "up/big.bin");
    const sha = await send(req, 48 * MIB);
    const after = await liveMemory();
    req.end();
    const res = await response;
    expect(res.statusCode, await text(res)).toBe(204);
    // What is in flight (socket and pipe buffers, a few MiB whatever the size), not the upload.
    expect(after.external - before.external).toBeLessThan(24 * MIB);
    expect((await run("sha256sum up/big.bin")).split(" ")[0]).toBe(sha);
    expect(await entries()).toEqual(["big.bin", "kept.txt"]);
  }, 60_000);

  it("an upload over the limit is refused with 413 as it crosses it: the file is as it was, and nothing is left beside it", async () => {
    const { req, response } = startPut(token, id, "up/kept.txt");
    req.on("error", () => undefined); // the service answers before the client has sent it all
    void send(req, LIMIT + 8 * MIB)
      .then(() => req.end())
      .catch(() => undefined);
    const res = await response;
    expect(res.statusCode).toBe(413);
    expect(JSON.parse(await text(res)).error).toMatchObject({ code: "payload_too_large", details: { limit: LIMIT } });
    req.destroy();
    await waitUntil("no temporary file beside it", async () => ((await entries()).some((name) => name.endsWith(".tmp")) ? undefined : true), 10_000, { seen: entries });
    expect(await run("cat up/kept.txt")).toBe("as it was");
  }, 60_000);

  it("a client that hangs up half way: the file is as it was, and the temporary file goes", async () => {
    const { req, response } = startPut(token, id, "up/kept.txt");
    response.catch(() => undefined);
    req.on("error", () => undefined);
    await send(req, 3 * MIB);
    // Some of it is in: the temporary file shows beside the target.
    await waitUntil("the upload's temporary file", async () => ((await entries()).some((name) => name.endsWith(".tmp")) ? true : undefined), 10_000, { seen: entries });
    req.destroy();
    await waitUntil("the temporary file removed", async () => ((await entries()).some((name) => name.endsWith(".tmp")) ? undefined : true), 10_000, { seen: entries });
    expect(await run("cat up/kept.txt")).toBe("as it was");
  }, 60_000);
});
