import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serve, type ServerType } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { issueToken } from "../../src/auth/token-commands";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { killArgv, pidsWithArgv, uniqueSleep, waitForArgv, waitForNoArgv } from "../support/argv-pids";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitUntil } from "../support/wait-until";

/**
 * The `drydock` command as a user runs it: `node bin/drydock.js …` in a child process, talking over a real
 * socket to a service started in this test process. Each CLI start costs a process start (and tsx, when dist/ is stale), so the
 * cases share one lease and run few commands.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TIMEOUT = 60_000;

let database: TestDatabase;
let drydock: Drydock;
let server: ServerType;
let root: string;
let baseUrl: string;
let adminToken: string;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

interface RunningCli {
  child: ChildProcess;
  /** What it has printed so far. */
  stdout(): string;
  stderr(): string;
  /** Its end: exit code and everything it printed. */
  done: Promise<CliResult>;
}

/** Starts the CLI; `stdin` is written and closed. */
function startCli(args: string[], options: { stdin?: Buffer | string; url?: string; env?: NodeJS.ProcessEnv } = {}): RunningCli {
  const env: NodeJS.ProcessEnv = { ...process.env, DRYDOCK_URL: options.url ?? baseUrl, DRYDOCK_TOKEN: adminToken, ...options.env };
  delete env.NODE_OPTIONS; // vitest's loader hooks are not what a user's shell has
  const child = spawn(process.execPath, ["bin/drydock.js", ...args], { cwd: repoRoot, env, stdio: ["pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), stdoutBytes });
    });
  });
  child.stdin.on("error", () => {}); // the CLI may exit without reading stdin
  child.stdin.end(options.stdin ?? "");
  return { child, stdout: () => Buffer.concat(out).toString("utf8"), stderr: () => Buffer.concat(err).toString("utf8"), done };
}

function drydockCli(args: string[], options: { stdin?: Buffer | string; url?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

async function getLease(id: string): Promise<any> {
  const res = await fetch(`${baseUrl}/v1/leases/${id}`, { headers: { Authorization: `Bearer ${adminToken}` } });
  expect(res.status).toBe(200);
  return res.json();
}

async function pollLease(id: string, accept: (lease: any) => boolean, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lease = await getLease(id);
    if (accept(lease)) return lease;
    if (Date.now() > deadline) throw new Error(`lease ${id} never got there: ${JSON.stringify(lease)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-cli-"));
  // memory-pool (type sandbox): a pool the tests can disable, so a lease on it waits for as long as they like.
  drydock = await createDrydock({ database, localHost: { root, slots: 2 }, blueprints: [memoryPoolBlueprint()], onWorkerError: (e) => console.error(e) });
  ({ token: adminToken } = await issueToken(drydock.commands, { owner: "admin", role: "admin" }, { actor: "system" }));
  const app = createApp(drydock);
  server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;
}, TIMEOUT);

afterAll(async () => {
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  await drydock?.close();
  await database?.close();
  if (root) await rm(root, { recursive: true, force: true });
}, TIMEOUT);

describe("the drydock CLI against a running service", () => {
  let id: string;

  it("lease --type host --wait prints the id on stdout and the events, in order, on stderr", async () => {
    const r = await drydockCli(["lease", "--type", "host", "--wait"]);
    expect(r.stderr).not.toMatch(/drydock:/);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
    id = lines[0]!;
    expect(id).toMatch(/^ls_[0-9a-z]+$/);
    expect(r.stdout).toBe(`${id}\n`);

    const events = r.stderr
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const m = /^(\S+)  #(\d+) (\w+)/.exec(line);
        expect(m, `event line: ${line}`).not.toBeNull();
        return { at: Date.parse(m![1]!), version: Number(m![2]), type: m![3]!, line };
      });
    expect(events[0]!.type).toBe("LeaseRequested");
    expect(events[0]!.line).toMatch(/type=host/);
    expect(events.at(-1)!.type).toBe("LeaseActivated");
    expect(events.at(-1)!.line).toContain(`dir=${root}`);
    expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
    const types = events.map((e) => e.type);
    expect(types.indexOf("LeaseAcquired")).toBeGreaterThan(0);
    expect(types.indexOf("LeaseAcquired")).toBeLessThan(types.indexOf("LeaseActivated"));
    for (let i = 1; i < events.length; i++) expect(events[i]!.at).toBeGreaterThanOrEqual(events[i - 1]!.at);

    expect((await getLease(id)).status).toBe("active");
  }, TIMEOUT);

  it("exec passes the command's stdout, stderr and exit code through", async () => {
    const [mixed, uname] = await Promise.all([
      drydockCli(["exec", id, "--", "sh", "-c", "echo out; echo err >&2; exit 3"]),
      drydockCli(["exec", id, "--", "uname", "-s"]),
    ]);
    expect(mixed).toMatchObject({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect(uname).toMatchObject({ code: 0, stdout: "Linux\n", stderr: "" });
  }, TIMEOUT);

  it("put from stdin and get to stdout round-trip bytes that are not UTF-8", async () => {
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x0a, 0x0d, 0xa0, 0xa1, 0xe2, 0x82, 0x7f, 0x00, 0x10]);
    const put = await drydockCli(["put", id, "notes/x.bin"], { stdin: bytes });
    expect(put).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const get = await drydockCli(["get", id, "notes/x.bin"]);
    expect(get.stderr).toBe("");
    expect(get.code).toBe(0);
    expect(get.stdoutBytes.equals(bytes)).toBe(true);
  }, TIMEOUT);

  it("put streams a file larger than any other request's body: 24 MiB from a local file and from stdin, read back whole", async () => {
    const bytes = randomBytes(24 * 1024 * 1024);
    const dir = await mkdtemp(path.join(tmpdir(), "drydock-cli-put-"));
    try {
      await writeFile(path.join(dir, "big.bin"), bytes);
      expect(await drydockCli(["put", id, "notes/from-file.bin", path.join(dir, "big.bin")])).toMatchObject({ code: 0, stderr: "" });
      expect(await drydockCli(["put", id, "notes/from-stdin.bin"], { stdin: bytes })).toMatchObject({ code: 0, stderr: "" });
      for (const name of ["from-file.bin", "from-stdin.bin"]) {
        const got = await drydockCli(["get", id, `notes/${name}`]);
        expect(got.code).toBe(0);
        expect(got.stdoutBytes.equals(bytes), name).toBe(true);
      }
      // A local file that cannot be read is said before anything is sent.
      const missing = await drydockCli(["put", id, "notes/none.bin", path.join(dir, "missing.bin")]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("missing.bin");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, TIMEOUT);

  it("get streams a file of any size to stdout: of a 6 GiB one, `| head -c 4M` takes the first 4 MiB and drydock ends quietly", async () => {
    expect((await drydockCli(["exec", id, "--", "truncate", "-s", "6G", "notes/huge.bin"])).code).toBe(0);
    const get = startCli(["get", id, "notes/huge.bin"]);
    let seen = 0;
    get.child.stdout!.on("data", (b: Buffer) => {
      seen += b.length;
      if (seen >= 4 * 1024 * 1024) get.child.stdout!.destroy();
    });
    const end = await get.done;
    expect(end).toMatchObject({ code: 141, stderr: "" });
    expect(end.stdoutBytes.length).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(end.stdoutBytes.every((b) => b === 0)).toBe(true);
    expect((await drydockCli(["exec", id, "--", "rm", "notes/huge.bin"])).code).toBe(0);
  }, TIMEOUT);

  it("ls shows the active lease, ls resources its resource", async () => {
    const { resourceId } = await getLease(id);
    expect(resourceId).toMatch(/^rs_/);
    const [leases, resources] = await Promise.all([drydockCli(["ls"]), drydockCli(["ls", "resources"])]);
    expect(leases.code).toBe(0);
    const leaseRows = leases.stdout.split("\n").filter(Boolean);
    expect(leaseRows[0]!.split(/\s+/)).toEqual(["id", "status", "resourceType", "resourceId", "owner", "requestedAt", "waitReason"]);
    const leaseRow = leaseRows.find((l) => l.startsWith(`${id} `))!.split(/\s+/);
    expect(leaseRow.slice(0, 4)).toEqual([id, "active", "host", resourceId]);

    expect(resources.code).toBe(0);
    const resourceRows = resources.stdout.split("\n").filter(Boolean);
    expect(resourceRows[0]!.split(/\s+/)[0]).toBe("id");
    const resourceRow = resourceRows.find((l) => l.startsWith(`${resourceId} `))!.split(/\s+/);
    expect(resourceRow.slice(0, 3)).toEqual([resourceId, "active", "host"]);
  }, TIMEOUT);

  it("hold puts the resource on hold, ls resources --held lists it with the hold, unhold releases it", async () => {
    const { resourceId } = await getLease(id);
    const held = await drydockCli(["hold", resourceId, "--reason", "look at it", "--for", "600"]);
    expect(held).toMatchObject({ code: 0, stderr: "" });
    expect(held.stdout).toMatch(new RegExp(`^${resourceId} on hold: look at it \\(until .+\\)\n$`));
    const listed = await drydockCli(["ls", "resources", "--held"]);
    const rows = listed.stdout.split("\n").filter(Boolean);
    expect(rows.slice(1).map((r) => r.split(/\s+/)[0])).toEqual([resourceId]);
    expect(rows[1]).toContain("on hold: look at it (by admin, until ");
    const unheld = await drydockCli(["unhold", resourceId]);
    expect(unheld).toMatchObject({ code: 0, stdout: `${resourceId} no longer on hold (active)\n`, stderr: "" });
    expect((await drydockCli(["ls", "resources", "--held"])).stdout.split("\n").filter(Boolean)).toHaveLength(1);
  }, TIMEOUT);

  it("release ends the lease; releasing it again fails with the status and the 409", async () => {
    const first = await drydockCli(["release", id]);
    expect(first).toMatchObject({ code: 0, stdout: `${id} released\n`, stderr: "" });
    const second = await drydockCli(["release", id]);
    expect(second.code).toBe(1);
    expect(second.stdout).toBe("");
    expect(second.stderr).toMatch(/^drydock: .*\b(released|destroyed)\b.*\(409 transition_refused\)\n$/);
  }, TIMEOUT);

  it("history lists the lease's events, from LeaseRequested to LeaseDestroyed", async () => {
    await pollLease(id, (l) => l.status === "destroyed");
    const r = await drydockCli(["history", id]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const types = r.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => /^\S+  #\d+ (\w+)/.exec(line)![1]);
    expect(types[0]).toBe("LeaseRequested");
    expect(types).toContain("LeaseActivated");
    expect(types.slice(-2)).toEqual(["LeaseReleased", "LeaseDestroyed"]);
    expect(r.stdout).toMatch(/#\d+ LeaseReleased {2}requested/);
  }, TIMEOUT);

  it("lease --type gpu fails: no blueprint provides it (422), and the CLI lists the types there are", async () => {
    const r = await drydockCli(["lease", "--type", "gpu"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^drydock: no blueprint provides resources of type "gpu" \(422 unsatisfiable\)\n {2}field: resourceType\n {2}knownTypes: host(, sandbox)?\n$/);
  }, TIMEOUT);

  it("says it cannot reach the service when nothing listens at DRYDOCK_URL", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await drydockCli(["ls"], { url });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`drydock: cannot reach ${url}: is the service running?\n`);
  }, TIMEOUT);
});

describe("tokens and authorizations from the CLI", () => {
  it("token create prints the token once; the client asks for local-host, an admin approves; token ls shows no secret; revoke locks it out", async () => {
    const created = await drydockCli(["token", "create", "--owner", "cli-client", "--role", "client"]);
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(created.stdout).toBe(`${token}\n`);
    expect(token).toMatch(/^ddk_[A-Za-z0-9_-]{43}$/);
    const tokenId = /token (tk_[0-9a-z]+) for cli-client \(client\)/.exec(created.stderr)![1]!;
    const asClient = { env: { DRYDOCK_TOKEN: token } };

    // Not authorized for any host blueprint yet: refused, naming the way out.
    const refused = await drydockCli(["lease", "--type", "host"], asClient);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not authorized .*\(403 forbidden\)\n {2}blueprints:\n {4}bp_[0-9a-z]+: local-host\n$/);

    const blueprint = await drydock.database.db.selectFrom("blueprints").select("blueprint_id").where("kind", "=", "local-host").executeTakeFirstOrThrow();
    const asked = await drydockCli(["auth", "request", blueprint.blueprint_id], asClient);
    expect(asked.code, asked.stderr).toBe(0);
    const [authorizationId] = asked.stdout.split(" ");
    expect(asked.stdout).toBe(`${authorizationId} cli-client on ${blueprint.blueprint_id}: requested\n`);
    const [approvedByClient, approved] = [await drydockCli(["auth", "approve", authorizationId!], asClient), await drydockCli(["auth", "approve", authorizationId!])];
    expect(approvedByClient.stderr).toMatch(/\(403 forbidden\)/);
    expect(approved.stdout).toBe(`${authorizationId} cli-client on ${blueprint.blueprint_id}: approved\n`);

    const [listed, leased] = await Promise.all([drydockCli(["token", "ls"]), drydockCli(["lease", "--type", "host"], asClient)]);
    expect(listed.stdout).toMatch(new RegExp(`^${tokenId} +cli-client +client +active +admin `, "m"));
    expect(listed.stdout).not.toContain(token);
    expect(leased.code, leased.stderr).toBe(0);
    expect((await getLease(leased.stdout.trim())).owner).toBe("cli-client");

    const revoked = await drydockCli(["token", "revoke", tokenId]);
    expect(revoked).toMatchObject({ code: 0, stdout: `${tokenId} revoked\n` });
    const locked = await drydockCli(["release", leased.stdout.trim()], asClient);
    expect(locked.code).toBe(1);
    expect(locked.stderr).toMatch(/\(401 unauthorized\)\n.*DRYDOCK_TOKEN/);
    expect((await drydockCli(["release", leased.stdout.trim()])).code).toBe(0);
  }, TIMEOUT);

  it("token create with a quota, token quota changes it, --none removes it; a wrong flag is a usage error", async () => {
    const created = await drydockCli(["token", "create", "--owner", "cli-quota", "--role", "client", "--max-live-leases", "2"]);
    expect(created.code, created.stderr).toBe(0);
    const tokenId = /token (tk_[0-9a-z]+) for cli-quota/.exec(created.stderr)![1]!;
    const raised = await drydockCli(["token", "quota", tokenId, "--max-live-leases", "5", "--max-live-leases-of", "host=2"]);
    expect(raised).toMatchObject({ code: 0, stdout: `${tokenId} cli-quota: {"maxLiveLeases":5,"byResourceType":{"host":2}}; 0 waiting leases now carry it\n` });
    const none = await drydockCli(["token", "quota", tokenId, "--none"]);
    expect(none).toMatchObject({ code: 0, stdout: `${tokenId} cli-quota: no quota; 0 waiting leases now carry it\n` });
    const both = await drydockCli(["token", "quota", tokenId, "--none", "--max-live-leases", "1"]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain("usage: drydock token");
    const bad = await drydockCli(["token", "quota", tokenId, "--max-live-leases=-3"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("leaseQuota.maxLiveLeases");
  }, TIMEOUT);

  it("without DRYDOCK_TOKEN uses $DRYDOCK_HOME/admin.token, and says what to do when there is none", async () => {
    const home = await mkdtemp(path.join(tmpdir(), "drydock-cli-home-"));
    const empty = await mkdtemp(path.join(tmpdir(), "drydock-cli-empty-"));
    try {
      await writeFile(path.join(home, "admin.token"), `${adminToken}\n`, { mode: 0o600 });
      const [found, missing] = await Promise.all([
        drydockCli(["ls", "blueprints"], { env: { DRYDOCK_TOKEN: "", DRYDOCK_HOME: home } }),
        drydockCli(["ls", "blueprints"], { env: { DRYDOCK_TOKEN: "", DRYDOCK_HOME: empty } }),
      ]);
      expect(found.code, found.stderr).toBe(0);
      expect(found.stdout).toMatch(/local-host/);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/\(401 unauthorized\)\n/);
    } finally {
      await rm(home, { recursive: true, force: true });
      await rm(empty, { recursive: true, force: true });
    }
  }, TIMEOUT);
});

describe("the CLI gives back what it holds: leases (issue 14)", () => {
  let poolId: string;

  beforeAll(async () => {
    // A disabled pool: a lease on it is accepted (the pool could serve it) and waits, pending, until someone enables it.
    const headers = { Authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
    const created = await fetch(`${baseUrl}/v1/blueprints`, { method: "POST", headers, body: JSON.stringify({ name: "cli-pool", kind: "memory-pool" }) });
    expect(created.status).toBe(201);
    poolId = ((await created.json()) as { id: string }).id;
    expect((await fetch(`${baseUrl}/v1/blueprints/${poolId}/disable`, { method: "POST", headers, body: "{}" })).status).toBe(200);
  }, TIMEOUT);

  async function sandboxLeases(status: string): Promise<string[]> {
    const res = await fetch(`${baseUrl}/v1/leases?resourceType=sandbox&status=${status}&limit=200`, { headers: { Authorization: `Bearer ${adminToken}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { items: { id: string }[] }).items.map((l) => l.id);
  }

  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("%s to lease --wait releases the pending lease, and exits %i", async (signal, code) => {
    const before = new Set(await sandboxLeases("pending"));
    const cli = startCli(["lease", "--type", "sandbox", "--wait"]);
    const leaseId = await waitUntil(`a pending lease from the CLI`, async () => (await sandboxLeases("pending")).find((id) => !before.has(id)), 30_000, { seen: () => cli.stderr() });
    // Its events on stderr say it waits: the CLI is in its wait, not still asking.
    await waitUntil("the CLI to print LeaseWaiting", () => cli.stderr().includes("LeaseWaiting"), 30_000, { seen: () => cli.stderr() });
    cli.child.kill(signal);
    const r = await cli.done;
    expect(r.code).toBe(code);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`drydock: ${signal}: lease ${leaseId} released\n`);
    const lease = await getLease(leaseId);
    expect(["released", "destroyed"]).toContain(lease.status);
  }, TIMEOUT);

  it("SIGTERM delivered twice at once, as GNU timeout does (to the CLI, then to its process group), still releases the lease", async () => {
    // A proxy that holds each release 300 ms, so the second signal lands while the first one's
    // release is under way, which is where it used to end the CLI without releasing.
    const proxy = createHttpServer(async (req, res) => {
      if (req.url?.endsWith("/release")) await new Promise((r) => setTimeout(r, 300));
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const upstream = await fetch(`${baseUrl}${req.url}`, { method: req.method, headers: req.headers as Record<string, string>, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) });
      res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const before = new Set(await sandboxLeases("pending"));
      const cli = startCli(["lease", "--type", "sandbox", "--wait"], { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
      const leaseId = await waitUntil(`a pending lease from the CLI`, async () => (await sandboxLeases("pending")).find((id) => !before.has(id)), 30_000, { seen: () => cli.stderr() });
      await waitUntil("the CLI to print LeaseWaiting", () => cli.stderr().includes("LeaseWaiting"), 30_000, { seen: () => cli.stderr() });
      cli.child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 50));
      cli.child.kill("SIGTERM");
      const r = await cli.done;
      expect(r.code).toBe(143);
      expect(r.stderr).toContain(`drydock: SIGTERM: lease ${leaseId} released\n`);
      expect(["released", "destroyed"]).toContain((await getLease(leaseId)).status);
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  }, TIMEOUT);

  it("lease --wait=1 on a lease that cannot be served in time exits 1, says so, and releases it", async () => {
    const r = await drydockCli(["lease", "--type", "sandbox", "--wait=1"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const m = /^drydock: lease (ls_[0-9a-z]+) is still pending after 1 s \(every usable sandbox blueprint is disabled\)$/m.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(r.stderr).toContain(`drydock: lease ${m![1]} released\n`);
    expect(["released", "destroyed"]).toContain((await getLease(m![1]!)).status);
  }, TIMEOUT);

  it("lease --wait=1 --keep keeps it: exits 1, prints its id, and the lease still waits", async () => {
    const r = await drydockCli(["lease", "--type", "sandbox", "--wait=1", "--keep"]);
    expect(r.code).toBe(1);
    const leaseId = r.stdout.trim();
    expect(r.stdout).toMatch(/^ls_[0-9a-z]+\n$/);
    expect(r.stderr).toContain(`drydock: lease ${leaseId} is still pending after 1 s`);
    expect(r.stderr).toContain("kept (--keep)");
    expect((await getLease(leaseId)).status).toBe("pending");
    expect((await drydockCli(["release", leaseId])).code).toBe(0);
  }, TIMEOUT);

  it("a 422 prints the API's reason for each blueprint", async () => {
    const other = process.arch === "arm64" ? "x64" : "arm64";
    const blueprint = await drydock.database.db.selectFrom("blueprints").select("blueprint_id").where("kind", "=", "local-host").executeTakeFirstOrThrow();
    const r = await drydockCli(["lease", "--type", "host", "--attr", `arch=${other}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `drydock: no blueprint can ever satisfy this lease (422 unsatisfiable)\n  field: attributes\n  blueprints:\n    ${blueprint.blueprint_id}: arch is "${process.arch}", lease wants "${other}"\n`,
    );
  }, TIMEOUT);
});

describe("the CLI gives back what it holds: commands (issue 14)", () => {
  let leaseId: string;
  const started: string[][] = [];

  beforeAll(async () => {
    const res = await fetch(`${baseUrl}/v1/leases?wait=20`, {
      method: "POST",
      headers: { Authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ resourceType: "host" }),
    });
    expect(res.status).toBe(201);
    leaseId = ((await res.json()) as { id: string }).id;
  }, TIMEOUT);

  afterAll(async () => {
    for (const argv of started) await killArgv(argv);
  });

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("exec, then %s: the command is killed on the host before drydock exits %i", async (signal, code) => {
    const sleep = uniqueSleep(signal === "SIGINT" ? 301 : 302);
    started.push(sleep);
    const cli = startCli(["exec", leaseId, "--", "sh", "-c", `echo started; exec ${sleep.join(" ")}`]);
    await waitUntil("the command's first line", () => cli.stdout() === "started\n", 30_000, { seen: () => cli.stderr() });
    expect(await pidsWithArgv(sleep)).toHaveLength(1);
    cli.child.kill(signal);
    const r = await cli.done;
    expect(r.code).toBe(code);
    expect(r.stderr).toBe("drydock: cancelled the command on the host\n");
    // Gone already: drydock waited for the service to say it had ended.
    expect(await pidsWithArgv(sleep)).toEqual([]);
  }, TIMEOUT);

  it("exit codes of commands ended by a signal are 128 + n", async () => {
    const [killed, terminated] = await Promise.all([
      drydockCli(["exec", leaseId, "--", "sh", "-c", "kill -9 $$"]),
      drydockCli(["exec", leaseId, "--", "sh", "-c", "kill -TERM $$"]),
    ]);
    expect(killed.code).toBe(137);
    expect(killed.stderr).toBe("drydock: the command was ended by SIGKILL\n");
    expect(terminated.code).toBe(143);
  }, TIMEOUT);

  it("a closed pipe (| head -c1) ends drydock quietly, and ends the command it streamed", async () => {
    const yes = ["yes", `drydock-${Math.floor(Math.random() * 1e9)}`];
    started.push(yes);
    const bytes = Buffer.alloc(1_000_000, 0x61); // far over a pipe's buffer
    expect((await drydockCli(["put", leaseId, "big.bin"], { stdin: bytes })).code).toBe(0);

    const [exec, get] = [startCli(["exec", leaseId, "--", ...yes]), startCli(["get", leaseId, "big.bin"])];
    for (const cli of [exec, get]) cli.child.stdout!.once("data", () => cli.child.stdout!.destroy());
    const [execEnd, getEnd] = await Promise.all([exec.done, get.done]);
    // As a program killed by SIGPIPE would: 141, and not a word (no EPIPE stack trace).
    expect(execEnd).toMatchObject({ code: 141, stderr: "" });
    expect(getEnd).toMatchObject({ code: 141, stderr: "" });
    await waitForNoArgv(yes);
  }, TIMEOUT);

  it("exec --help says the default and the longest timeout, and what Ctrl-C does", async () => {
    const r = await drydockCli(["exec", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("default 600 s, at most 3600 s");
    expect(r.stdout).toMatch(/Ctrl-C or SIGTERM cancels the command on the host/);
  }, TIMEOUT);

  it("refuses a --timeout the API would refuse, naming the option", async () => {
    const r = await drydockCli(["exec", leaseId, "--timeout", "7200", "--", "true"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("drydock: --timeout takes seconds from 0.1 to 3600, not 7200\n");
  }, TIMEOUT);

  it("Ctrl-C before the command has printed anything (its id may not be known yet) still kills it on the host", async () => {
    const sleep = uniqueSleep(303);
    started.push(sleep);
    const cli = startCli(["exec", leaseId, "--", ...sleep]);
    await waitForArgv(sleep);
    cli.child.kill("SIGINT");
    expect((await cli.done).code).toBe(130);
    await waitForNoArgv(sleep);
  }, TIMEOUT);
});
