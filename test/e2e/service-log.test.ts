import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prettyLine } from "../../src/service/logger";
import { waitUntil } from "../support/wait-until";

/**
 * The service's log as a log shipper reads it: `drydock serve` with its output on a pipe writes one
 * JSON object per line, with the ids an operator searches by (request, token, lease, stream), and
 * never a token. LOG_LEVEL chooses how much.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let home: string;
let child: ChildProcess;
let out = "";
let base: string;
let admin: Record<string, string>;

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), "drydock-log-"));
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: "", PORT: String(port), DRYDOCK_HOME: home, LOG_LEVEL: "debug" };
  delete env.DATABASE_URL; // its own embedded database, whichever the suite runs on
  child = spawn(process.execPath, ["bin/drydock.js", "serve"], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  base = `http://127.0.0.1:${port}`;
  await waitUntil("the service to answer", () => fetch(`${base}/healthz`).then((r) => r.ok, () => false), 45_000, { seen: () => out });
  admin = { Authorization: `Bearer ${(await readFile(path.join(home, "admin.token"), "utf8")).trim()}`, "content-type": "application/json" };
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  if (home) await rm(home, { recursive: true, force: true });
});

const records = () =>
  out
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
    });

describe("the service's log", () => {
  it("is JSON lines: a request names its id, route, status, token id and lease; the events it appended follow; no token anywhere", async () => {
    const lease = (await (await fetch(`${base}/v1/leases?wait=30`, { method: "POST", headers: admin, body: JSON.stringify({ resourceType: "host" }) })).json()) as { id: string; status: string };
    expect(lease.status).toBe("active");
    const release = await fetch(`${base}/v1/leases/${lease.id}/release`, { method: "POST", headers: admin, body: "{}" });
    const requestId = release.headers.get("x-request-id");
    expect(requestId).toBeTruthy();

    const logged = await waitUntil("the release to be logged", () => records().find((r) => r.msg === "request" && r.requestId === requestId), 10_000, { seen: () => out });
    expect(logged).toMatchObject({ level: "info", method: "POST", route: "/v1/leases/:id/release", status: 200, leaseId: lease.id, owner: "admin", tokenId: expect.stringMatching(/^tk_/) });
    expect(typeof logged.ms).toBe("number");
    expect(typeof logged.time).toBe("string");
    // Debug shows what the request appended, tied to it by its id.
    expect(records().find((r) => r.msg === "event appended" && r.requestId === requestId)).toMatchObject({ streamId: `lease-${lease.id}`, type: "LeaseReleased" });
    // The first start says where the admin token is, as a record; the token is nowhere.
    expect(records().find((r) => r.level === "warn")).toMatchObject({ file: path.join(home, "admin.token") });
    expect(out).not.toContain(admin.Authorization!.slice("Bearer ".length));
    // Health checks only at debug; an unknown route is still one record.
    await fetch(`${base}/v1/no-such-route`, { headers: admin });
    await waitUntil("the 404 to be logged", () => records().find((r) => r.route === "unmatched" && r.status === 404));
  });

  it("reads as short lines on a terminal", () => {
    const line = prettyLine(JSON.stringify({ level: "info", time: "2026-12-01T12:00:01.234Z", requestId: "r1", status: 200, msg: "request" }));
    expect(line).toBe("12:00:01.234 INFO  request  requestId=r1 status=200\n");
  });
});
