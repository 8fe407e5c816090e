/**
 * bench/lease-files: what reading and writing a lease's files costs the service, over real HTTP,
 * for a client's lease (the file helper in its sandbox) and an admin's (in the service's process):
 *
 *  - a large file (`--gib`, sparse, made by the lease's own `truncate`) read whole: MiB/s, and how
 *    much the process's memory grew at most meanwhile (rss and external, sampled every 20 ms,
 *    against just before; the reader is in the same process and keeps nothing);
 *  - the same size uploaded, sent chunked as a pipe would send it: MiB/s and memory the same way;
 *  - a small file (`--small` reads of 1 KiB, one after another): p50 and p99 of one read; then as
 *    many 1 KiB writes (PUT) and listings of the lease's top directory, the same way.
 *
 * The figures in bench/README.md (2026-12-05) came from this bench.
 *
 *   npx tsx bench/lease-files.ts [--gib 2] [--small 50]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { createApp } from "../src/api/app";
import { issueToken } from "../src/auth/token-commands";
import { createDrydock } from "../src/service/drydock";
import { percentile } from "./client-process";
import { localHostClientTokens } from "./client-tokens";

const { values } = parseArgs({ options: { gib: { type: "string", default: "2" }, small: { type: "string", default: "50" } } });
const gib = Number(values.gib);
const smallReads = Number(values.small);
const MIB = 1024 * 1024;

const home = await mkdtemp(path.join(tmpdir(), "drydock-bench-files-"));
const drydock = await createDrydock({ localHost: { root: path.join(home, "local-host"), slots: 4 }, sandbox: { hidden: [home] } });
const app = createApp(drydock, { rateLimits: { leases: null, commands: null } });
const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
await new Promise<void>((resolve) => server.once("listening", () => resolve()));
const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

async function call(token: string, method: string, route: string, body?: unknown): Promise<any> {
  const res = await fetch(base + route, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

/** Sends bytes as they are; fails unless the answer is a success. */
async function sent(token: string, method: string, route: string, body: Uint8Array): Promise<void> {
  const res = await fetch(base + route, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" }, body });
  if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/** Reads a whole file over its own connection, in this process (the service's reads are the same either way). */
function readWhole(token: string, leaseId: string, file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/leases/${leaseId}/files/${file}`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      let bytes = 0;
      res.on("data", (chunk: Buffer) => (bytes += chunk.length));
      res.on("end", () => (res.complete ? resolve(bytes) : reject(new Error("the transfer was cut short"))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Samples the process's memory growth until `stop`: its largest rss and external, against just before. */
function memoryPeak(): { stop(): { rss: number; external: number } } {
  const before = process.memoryUsage();
  const peak = { rss: 0, external: 0 };
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    peak.rss = Math.max(peak.rss, now.rss - before.rss);
    peak.external = Math.max(peak.external, now.external - before.external);
  }, 20);
  return {
    stop() {
      clearInterval(sampler);
      return peak;
    },
  };
}

/** Uploads `bytes` zero bytes in 256 KiB chunks, without a Content-Length, waiting for the socket. */
function upload(token: string, leaseId: string, file: string, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/leases/${leaseId}/files/${file}`, { method: "PUT", headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 204 ? resolve() : reject(new Error(`upload: ${res.statusCode}`))));
    });
    req.on("error", reject);
    const chunk = Buffer.alloc(256 * 1024);
    let sent = 0;
    const more = () => {
      while (sent < bytes) {
        const part = sent + chunk.length <= bytes ? chunk : chunk.subarray(0, bytes - sent);
        sent += part.length;
        if (!req.write(part)) return void req.once("drain", more);
      }
      req.end();
    };
    more();
  });
}

try {
  const admin = (await issueToken(drydock.commands, { owner: "bench-admin", role: "admin" }, { actor: "bench" })).token;
  const [client] = await localHostClientTokens(drydock, 1);
  for (const [who, token] of [
    ["client's lease (sandboxed helper)", client!],
    ["admin's lease (in the service)", admin],
  ] as const) {
    const lease = await call(token, "POST", "/v1/leases?wait=30", { resourceType: "host" });
    await call(token, "POST", `/v1/leases/${lease.id}/commands`, { argv: ["sh", "-c", `truncate -s ${gib}G big.bin && head -c 1024 /dev/urandom > small.bin`] });

    // The large file: memory sampled while it streams, one way then the other.
    let peak = memoryPeak();
    let started = performance.now();
    const bytes = await readWhole(token, lease.id, "big.bin");
    let seconds = (performance.now() - started) / 1000;
    let grown = peak.stop();
    if (bytes !== gib * 1024 * MIB) throw new Error(`read ${bytes} bytes of ${gib} GiB`);
    console.log(`${who}: ${gib} GiB read in ${seconds.toFixed(1)} s, ${(bytes / MIB / seconds).toFixed(0)} MiB/s; the process's memory grew by at most rss ${(grown.rss / MIB).toFixed(1)} MiB, external ${(grown.external / MIB).toFixed(1)} MiB (this process is the service and the reader)`);
    peak = memoryPeak();
    started = performance.now();
    await upload(token, lease.id, "uploaded.bin", bytes);
    seconds = (performance.now() - started) / 1000;
    grown = peak.stop();
    console.log(`${who}: ${gib} GiB uploaded in ${seconds.toFixed(1)} s, ${(bytes / MIB / seconds).toFixed(0)} MiB/s; the process's memory grew by at most rss ${(grown.rss / MIB).toFixed(1)} MiB, external ${(grown.external / MIB).toFixed(1)} MiB`);
    await call(token, "POST", `/v1/leases/${lease.id}/commands`, { argv: ["rm", "uploaded.bin"] });

    // Small reads, one after another.
    const times: number[] = [];
    for (let i = 0; i < smallReads; i++) {
      const t = performance.now();
      if ((await readWhole(token, lease.id, "small.bin")) !== 1024) throw new Error("small.bin is not 1 KiB");
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    console.log(`${who}: a 1 KiB read, ${smallReads} one after another: p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms`);
    const kib = new Uint8Array(1024).fill(97);
    for (const [what, one] of [
      ["a 1 KiB write", () => sent(token, "PUT", `/v1/leases/${lease.id}/files/written.bin`, kib)],
      ["a listing", () => call(token, "GET", `/v1/leases/${lease.id}/files`)],
    ] as const) {
      const took: number[] = [];
      for (let i = 0; i < smallReads; i++) {
        const t = performance.now();
        await one();
        took.push(performance.now() - t);
      }
      took.sort((a, b) => a - b);
      console.log(`${who}: ${what}, ${smallReads} one after another: p50 ${percentile(took, 50).toFixed(1)} ms, p99 ${percentile(took, 99).toFixed(1)} ms`);
    }
    await call(token, "POST", `/v1/leases/${lease.id}/release`);
  }
} finally {
  server.close();
  await drydock.close();
  await rm(home, { recursive: true, force: true });
}
