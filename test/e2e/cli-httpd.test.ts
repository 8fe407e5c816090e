/**
 * `drydock http LEASE_ID [PATH]` as a user runs it (`node bin/drydock.js` in a child process),
 * against a service on a real socket, with the lease's server started, restarted and stopped
 * through the typed client's httpd methods.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serve, type ServerType } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { issueToken } from "../../src/auth/token-commands";
import { DrydockClient, DrydockError } from "../../src/client";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { killArgv, waitForNoArgv } from "../support/argv-pids";
import { ECHO_SERVER } from "../support/httpd-echo-server";
import { freePort } from "../support/free-port";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TIMEOUT = 60_000;

let database: TestDatabase;
let drydock: Drydock;
let server: ServerType;
let root: string;
let baseUrl: string;
let adminToken: string;
let client: DrydockClient;
let argv: string[];

function drydockCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DRYDOCK_URL: baseUrl, DRYDOCK_TOKEN: adminToken };
  delete env.NODE_OPTIONS; // vitest's loader hooks are not what a user's shell has
  delete env.DATABASE_URL; // the CLI talks to the service; it must never see the shared test database
  const child = spawn(process.execPath, ["bin/drydock.js", ...args], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-cli-httpd-"));
  drydock = await createDrydock({ database, localHost: { root, slots: 2 }, onWorkerError: (e) => console.error(e) });
  ({ token: adminToken } = await issueToken(drydock.commands, { owner: "admin", role: "admin" }, { actor: "system" }));
  server = serve({ fetch: createApp(drydock).fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new DrydockClient({ url: baseUrl, token: adminToken });
}, TIMEOUT);

afterAll(async () => {
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  await drydock?.close();
  await database?.close();
  if (root) await rm(root, { recursive: true, force: true });
  if (argv) await killArgv(argv);
}, TIMEOUT);

describe("drydock http", () => {
  it("prints the proxied URL, fetches a path through it, and says why when nothing answers", { timeout: TIMEOUT }, async () => {
    const lease = await client.requestLease({ resourceType: "host" }, { wait: 10 });
    expect(lease.status).toBe("active");
    await client.writeFile(lease.id, "echo.js", ECHO_SERVER);
    const port = await freePort();
    argv = [process.execPath, "echo.js", String(port), randomBytes(6).toString("hex")];

    // The typed client's httpd methods.
    const started = await client.startHttpd(lease.id, { argv, port });
    expect(started).toMatchObject({ state: "running", port, uri: `${baseUrl}/v1/leases/${lease.id}/http/` });
    expect(client.httpUrl(lease.id, "/a?b=1")).toBe(`${baseUrl}/v1/leases/${lease.id}/http/a?b=1`);
    const deadline = Date.now() + 15_000;
    while ((await client.http(lease.id, "/ready").catch(() => null))?.status !== 200) {
      if (Date.now() > deadline) throw new Error(`the server never answered: ${JSON.stringify(await client.httpdStatus(lease.id))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await client.http(lease.id, "/teapot")).status).toBe(418); // the server's own answer, not an error
    expect((await client.restartHttpd(lease.id)).state).toBe("running");

    const url = await drydockCli(["http", lease.id]);
    expect(url).toMatchObject({ code: 0, stdout: `${baseUrl}/v1/leases/${lease.id}/http/\n` });

    const fetched = await drydockCli(["http", lease.id, "/hello/w%20orld?x=1", "-H", "X-Custom: yes"]);
    expect(fetched.code, fetched.stderr).toBe(0);
    const echoed = JSON.parse(fetched.stdout);
    expect(echoed).toMatchObject({ method: "GET", url: "/hello/w%20orld?x=1" });
    expect(echoed.headers["x-custom"]).toBe("yes");
    expect(echoed.headers.authorization).toBeUndefined();

    const posted = await drydockCli(["http", lease.id, "form", "-d", "a=1"]);
    expect(JSON.parse(posted.stdout)).toMatchObject({ method: "POST", url: "/form", body: "a=1" });

    const teapot = await drydockCli(["http", lease.id, "/teapot"]);
    expect(teapot.code).toBe(1);
    expect(teapot.stderr).toContain("the lease's server answered 418");

    expect((await client.stopHttpd(lease.id)).state).toBe("stopped");
    await waitForNoArgv(argv);
    const refused = await client.http(lease.id, "/").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DrydockError);
    expect(refused).toMatchObject({ status: 503, code: "interface_unavailable" });
    const stopped = await drydockCli(["http", lease.id, "/"]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`the server of lease ${lease.id} (port ${port} of this machine) is not running: it was stopped`);
    await client.releaseLease(lease.id);
  });
});
