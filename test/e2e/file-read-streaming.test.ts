import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { request, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/service/logger";
import { growthOver, liveMemory } from "../support/live-memory";
import { listenOnLoopback, type LoopbackServer } from "../support/loopback-server";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiClient, type ApiHarness } from "./api-harness";

/**
 * GET /v1/leases/{id}/files/{path} over a real socket, for files larger than the service could
 * hold. A lease's commands can make one for free (`truncate -s 8G`, a sparse file), so a read
 * that gathered the file before answering let any client run the service out of memory. The
 * answer now streams: its headers come at once with the file's size, the service holds a chunk
 * at a time whatever the client does, a client that goes away ends the read, and a file that
 * shrinks under the read cuts the answer short instead of passing for whole.
 *
 * Both adapters on this machine: an admin's lease reads in the service's process, a client's
 * through a helper in the lease's sandbox (bubblewrap and root, as CI runs).
 */
const MIB = 1024 * 1024;
const HUGE = 8 * 1024 * MIB;

let api: ApiHarness;
let home: string;
let server: LoopbackServer | undefined;
let alice: ApiClient;
const logLines: string[] = [];

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), "drydock-home-"));
  api = await startApi({}, { localHost: { root: path.join(home, "local-host"), slots: 8 }, sandbox: { hidden: [home] }, logger: createLogger({ level: "info", pretty: false, write: (line) => logLines.push(line) }) });
  server = await listenOnLoopback((req, env) => api.app.fetch(req, env as never));
  alice = await api.client("alice");
});

afterAll(async () => {
  await server?.close();
  await api?.close();
  await rm(home, { recursive: true, force: true });
});

/** Asks for a file and resolves once the answer's headers are in, its body not read yet. */
function startGet(token: string, leaseId: string, file: string, method = "GET"): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: server!.port, method, path: `/v1/leases/${leaseId}/files/${file}`, headers: { Authorization: `Bearer ${token}` } });
    req.once("response", resolve);
    req.once("error", reject);
    req.end();
  });
}

/** Reads the body to its end, or to its failure: the bytes, their hash, and whether it was cut. */
async function readBody(res: IncomingMessage, limit = Number.POSITIVE_INFINITY): Promise<{ bytes: number; sha256: string; cut: boolean }> {
  const hash = createHash("sha256");
  let bytes = 0;
  let cut = false;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes >= limit) break;
    }
  } catch {
    cut = true;
  }
  if (!res.complete) cut = true;
  return { bytes, sha256: hash.digest("hex"), cut };
}

/** Every process on this machine whose command line has all of `parts`. */
async function processesWith(...parts: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).replace(/\0/g, " ");
    if (parts.every((p) => cmdline.includes(p))) found.push(`${pid}: ${cmdline}`);
  }
  return found;
}

/** This process's descriptors open on `file`. */
async function descriptorsOn(file: string): Promise<string[]> {
  const open: string[] = [];
  for (const fd of await readdir("/proc/self/fd")) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
    if (target === file) open.push(fd);
  }
  return open;
}

interface Lease {
  id: string;
  dir: string;
  token: string;
  /** What still reads `file` for this lease: the helper (sandboxed) or a descriptor (in the service). */
  readers(file: string): Promise<string[]>;
}

async function leaseAs(who: "admin" | "client"): Promise<Lease> {
  const caller = who === "admin" ? api : alice;
  const token = who === "admin" ? api.adminToken : alice.token;
  const created = await caller.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
  if (created.status !== 201 || created.body.status !== "active") throw new Error(`no active lease: ${created.status} ${created.text}`);
  const id = created.body.id as string;
  const pwd = await caller.call("POST", `/v1/leases/${id}/commands`, { argv: ["pwd"] });
  const dir = (pwd.body.stdout as string).trim();
  const readers = (file: string) => (who === "client" ? processesWith("file-helper.mjs", "read", dir, file) : descriptorsOn(path.join(dir, file)));
  return { id, dir, token, readers };
}

async function run(lease: Lease, script: string): Promise<void> {
  const caller = lease.token === api.adminToken ? api : alice;
  const ran = await caller.call("POST", `/v1/leases/${lease.id}/commands`, { argv: ["sh", "-c", script] });
  expect(ran.body?.exitCode, ran.text).toBe(0);
}

describe.each(["admin", "client"] as const)("reading a file of a lease (%s)", (who) => {
  let lease: Lease;
  beforeAll(async () => {
    lease = await leaseAs(who);
  });

  it("an 8 GiB file: the answer starts at once with its size, memory stays flat while the client reads nothing, and a client that goes away ends the read", async () => {
    await run(lease, "truncate -s 8G huge.bin");
    const before = await liveMemory();
    const res = await startGet(lease.token, lease.id, "huge.bin");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/octet-stream");
    expect(Number(res.headers["content-length"])).toBe(HUGE);

    const growth = await growthOver(before, 20);
    expect(growth.external).toBeLessThan(64 * MIB);
    expect(growth.rss).toBeLessThan(64 * MIB);
    // Reading still: a descriptor in the service, or the helper (and its bubblewrap) in the sandbox.
    expect((await lease.readers("huge.bin")).length).toBeGreaterThan(0);

    // It reads 32 MiB, every byte a zero, then hangs up.
    const head = await readBody(res, 32 * MIB);
    expect(head.bytes).toBeGreaterThanOrEqual(32 * MIB);
    res.destroy();
    await waitUntil("the read to end once its client went away", async () => ((await lease.readers("huge.bin")).length === 0 ? true : undefined), 10_000, {
      seen: () => lease.readers("huge.bin"),
    });
    // HEAD says the size and leaves nothing reading.
    const head2 = await startGet(lease.token, lease.id, "huge.bin", "HEAD");
    expect(head2.statusCode).toBe(200);
    expect(Number(head2.headers["content-length"])).toBe(HUGE);
    await readBody(head2);
    await waitUntil("nothing reading the file after a HEAD", async () => ((await lease.readers("huge.bin")).length === 0 ? true : undefined), 10_000, {
      seen: () => lease.readers("huge.bin"),
    });
    // The service answers the next read as before.
    const again = await readBody(await startGet(lease.token, lease.id, "huge.bin"), MIB);
    expect(again.bytes).toBeGreaterThanOrEqual(MIB);
  }, 120_000);

  it("a 24 MiB file of random bytes arrives whole, byte for byte", async () => {
    await run(lease, "head -c 25165824 /dev/urandom > random.bin");
    const expected = (await shaOf(lease, "random.bin")).split(" ")[0];
    const res = await startGet(lease.token, lease.id, "random.bin");
    expect(Number(res.headers["content-length"])).toBe(24 * MIB);
    expect(await readBody(res)).toEqual({ bytes: 24 * MIB, sha256: expected, cut: false });
  }, 60_000);

  it("a file that shrinks while it is read: the answer is cut short, never passed off as the whole file", async () => {
    await run(lease, "head -c 67108864 /dev/zero > shrinking.bin");
    const res = await startGet(lease.token, lease.id, "shrinking.bin");
    expect(Number(res.headers["content-length"])).toBe(64 * MIB);
    // The client waits before it reads, so most of the file is still unread when it shrinks.
    await run(lease, "truncate -s 1M shrinking.bin");
    const got = await readBody(res);
    expect(got.cut).toBe(true);
    expect(got.bytes).toBeLessThan(64 * MIB);
    // The service says why, in its log (not on stderr, not in the bytes sent).
    const cut = logLines.map((line) => JSON.parse(line)).find((r) => r.msg === "a file read was cut short" && r.leaseId === lease.id);
    expect(cut).toMatchObject({ path: "shrinking.bin", size: 64 * MIB });
    expect(cut.reason).toMatch(/the file changed while it was read: \d+ of 67108864 bytes/);
  }, 60_000);

  it("what is not a regular file is refused before any byte, as before", async () => {
    await run(lease, "mkdir -p adir && mkfifo afifo && ln -sf /etc/passwd alink");
    const caller = who === "admin" ? api : alice;
    for (const [file, code] of [["adir", "validation_failed"], ["afifo", "validation_failed"], ["alink", "path_outside_lease"], ["missing", "file_not_found"]] as const) {
      const res = await caller.call("GET", `/v1/leases/${lease.id}/files/${file}`);
      expect(`${file}: ${res.body?.error?.code}`).toBe(`${file}: ${code}`);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
  }, 60_000);
});

async function shaOf(lease: Lease, file: string): Promise<string> {
  const caller = lease.token === api.adminToken ? api : alice;
  const ran = await caller.call("POST", `/v1/leases/${lease.id}/commands`, { argv: ["sha256sum", file] });
  return ran.body.stdout as string;
}

describe("file transfers in flight per lease", () => {
  it("a lease has at most as many file reads and uploads in flight as it may run commands: one more is 429, and a read that ends gives its slot back", async () => {
    const blueprintId = await api.localHostBlueprintId();
    const current = await api.call("GET", `/v1/blueprints/${blueprintId}`);
    expect((await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: { ...current.body.config, maxConcurrentCommands: 2 } })).status).toBe(200);
    const open: IncomingMessage[] = [];
    try {
      const lease = await leaseAs("client");
      await run(lease, "truncate -s 1G slow.bin");
      // Two clients that read nothing hold the lease's two reads.
      for (let i = 0; i < 2; i++) open.push(await startGet(lease.token, lease.id, "slow.bin"));
      for (const res of open) expect(res.statusCode).toBe(200);
      const third = await startGet(lease.token, lease.id, "slow.bin");
      const refused = JSON.parse((await readAllText(third)) || "null");
      expect(third.statusCode).toBe(429);
      expect(refused.error).toMatchObject({ code: "too_many_file_transfers", details: { leaseId: lease.id, limit: 2 } });
      // An upload takes a slot too; commands are counted apart: the lease still runs one.
      const upload = await alice.call("PUT", `/v1/leases/${lease.id}/files/up.txt`, "x");
      expect(upload.status).toBe(429);
      expect(upload.body.error.code).toBe("too_many_file_transfers");
      await run(lease, "true");

      // One of them hangs up: its slot is free again.
      open.shift()!.destroy();
      await waitUntil(
        "a read let through once one ended",
        async () => {
          const res = await startGet(lease.token, lease.id, "slow.bin", "HEAD");
          await readAllText(res);
          return res.statusCode === 200 ? true : undefined;
        },
        10_000,
      );
    } finally {
      for (const res of open) res.destroy();
      expect((await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: current.body.config })).status).toBe(200);
    }
  }, 60_000);
});

async function readAllText(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts).toString("utf8");
}
