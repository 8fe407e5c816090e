import { readFile } from "node:fs/promises";
import { request, type IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { growthOver, liveMemory } from "../support/live-memory";
import { listenOnLoopback, type LoopbackServer } from "../support/loopback-server";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * POST /v1/leases/{id}/commands?stream=1 over a real socket, with a client that stops reading
 * (issue 13). The server and the client share this process, so its memory is the service's:
 * while the client reads nothing, a command writing 200 MB must not grow it (the command is
 * paused instead: it has written only a few MB), and once the client reads, every byte arrives.
 * Whatever the client does, the command's timeout still ends a command it holds up.
 *
 * Runs as admin, so the lease is not sandboxed.
 */
const MIB = 1024 * 1024;
const TOTAL = 200_000_000;

let api: ApiHarness;
let server: LoopbackServer | undefined;
let port: number;
let leaseId: string;

beforeAll(async () => {
  api = await startApi();
  server = await listenOnLoopback((req, env) => api.app.fetch(req, env as never));
  port = server.port;
  const created = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
  if (created.status !== 201) throw new Error(`no active lease: ${created.status} ${created.text}`);
  leaseId = created.body.id;
});

afterAll(async () => {
  await server?.close();
  await api?.close();
});

/**
 * Starts a streamed command and resolves with the response once its headers are in, without
 * reading the body: Node's client then stops reading the socket once its small buffer is full.
 */
function startStream(body: unknown): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: `/v1/leases/${leaseId}/commands?stream=1`,
      headers: { Authorization: `Bearer ${api.adminToken}`, "content-type": "application/json" },
    });
    req.once("response", resolve);
    req.once("error", reject);
    req.end(JSON.stringify(body));
  });
}

interface Streamed {
  stdoutBytes: number;
  stderrBytes: number;
  lines: number;
  /** The last line, parsed; earlier lines are only counted. */
  last: any;
  /** Whether every line before the last was an output line. */
  onlyOutputBefore: boolean;
}

/** Reads the rest of the ndjson body, counting the output bytes (U+0000 is one byte in UTF-8). */
async function readAll(res: IncomingMessage): Promise<Streamed> {
  const out: Streamed = { stdoutBytes: 0, stderrBytes: 0, lines: 0, last: null, onlyOutputBefore: true };
  const take = (line: Buffer) => {
    if (out.last && !("stream" in out.last)) out.onlyOutputBefore = false;
    const parsed = JSON.parse(line.toString("utf8"));
    out.lines++;
    if (parsed.stream === "stdout") out.stdoutBytes += Buffer.byteLength(parsed.data, "utf8");
    else if (parsed.stream === "stderr") out.stderrBytes += Buffer.byteLength(parsed.data, "utf8");
    out.last = parsed;
  };
  let parts: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      take(parts.length > 0 ? Buffer.concat([...parts, chunk.subarray(start, end)]) : chunk.subarray(start, end));
      parts = [];
      start = end + 1;
    }
    if (start < chunk.length) parts.push(chunk.subarray(start));
  }
  expect(parts, "the body ends with a complete line").toEqual([]);
  return out;
}

/** The pid the command wrote to a file in the lease's directory, read through the API. */
async function pidFile(name: string): Promise<number> {
  const res = await api.app.request(`/v1/leases/${leaseId}/files/${name}`);
  expect(res.status).toBe(200);
  const pid = Number((await res.text()).trim());
  expect(Number.isSafeInteger(pid) && pid > 1).toBe(true);
  return pid;
}

/** Bytes the process has written so far (to its stdout: it writes nowhere else). */
async function bytesWritten(pid: number): Promise<number> {
  const io = await readFile(`/proc/${pid}/io`, "utf8");
  return Number(/^wchar: (\d+)$/m.exec(io)![1]);
}

/** A zombie counts as dead: it has exited and only waits to be reaped. */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  if (stat === null) return false;
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

describe("a streamed command with a client that does not read", () => {
  it("holds the command instead of its output: memory stays flat, and nothing is lost once the client reads", async () => {
    // Unbounded, 200 MB of NUL bytes become 1.2 GB of escaped JSON lines queued in memory
    // (ArrayBuffers count in `external`); bounded, the queue holds about a MiB.
    const before = await liveMemory();
    const res = await startStream({ argv: ["sh", "-c", `echo $$ > head.pid; exec head -c ${TOTAL} /dev/zero`] });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("application/x-ndjson");
    const pid = await pidFile("head.pid");

    const growth = await growthOver(before, 30);
    // The command is held back, not finished with its output in memory.
    expect(await isAlive(pid)).toBe(true);
    expect(await bytesWritten(pid)).toBeLessThan(64 * MIB);
    expect(growth.external).toBeLessThan(64 * MIB);
    expect(growth.rss).toBeLessThan(64 * MIB);

    const streamed = await readAll(res);
    expect(streamed.stdoutBytes).toBe(TOTAL);
    expect(streamed.stderrBytes).toBe(0);
    expect(streamed.onlyOutputBefore).toBe(true);
    expect(streamed.last.exit).toMatchObject({ exitCode: 0, signal: null, timedOut: false, stdoutBytes: TOTAL, stdoutTruncated: false });
  }, 180_000);

  it("still ends the command at its timeout while the client holds it up", async () => {
    const res = await startStream({ argv: ["sh", "-c", "echo $$ > yes.pid; exec yes"], timeoutSeconds: 0.5 });
    expect(res.statusCode).toBe(200);
    const pid = await pidFile("yes.pid");
    const deadline = Date.now() + 30_000;
    while (await isAlive(pid)) {
      if (Date.now() > deadline) throw new Error(`yes (pid ${pid}) still runs 30 s after its 0.5 s timeout`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const streamed = await readAll(res);
    expect(streamed.last.exit).toMatchObject({ timedOut: true, signal: "SIGTERM", stdoutTruncated: false });
    // What the command got to write before it was held up and ended, and all of it.
    expect(streamed.last.exit.stdoutBytes).toBe(streamed.stdoutBytes);
    expect(streamed.stdoutBytes).toBeGreaterThan(0);
    expect(streamed.stdoutBytes).toBeLessThan(64 * MIB);
  }, 60_000);
});
