import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serve, type ServerType } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { issueToken } from "../../src/auth/token-commands";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * The `drydock` command as a user runs it: `node bin/drydock.js …` in a child process, talking over a real
 * socket to a service started in this test process. Each CLI start costs a second or more (tsx), so the
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

function drydockCli(args: string[], options: { stdin?: Buffer | string; url?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, DRYDOCK_URL: options.url ?? baseUrl, DRYDOCK_TOKEN: adminToken, ...options.env };
    delete env.NODE_OPTIONS; // vitest's loader hooks are not what a user's shell has
    const child = spawn(process.execPath, ["bin/drydock.js", ...args], { cwd: repoRoot, env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), stdoutBytes });
    });
    child.stdin.on("error", () => {}); // the CLI may exit without reading stdin
    child.stdin.end(options.stdin ?? "");
  });
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
  drydock = await createDrydock({ database, localHost: { root, slots: 2 }, onWorkerError: (e) => console.error(e) });
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

  it("lease --type gpu fails: no blueprint provides it (422)", async () => {
    const r = await drydockCli(["lease", "--type", "gpu"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('no blueprint provides resources of type "gpu"');
    expect(r.stderr).toMatch(/\(422 \w+\)\n$/);
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
    expect(refused.stderr).toMatch(/not authorized .*\(403 forbidden\)\n$/);

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
