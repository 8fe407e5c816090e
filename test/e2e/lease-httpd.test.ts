/**
 * Issue #12, httpd on the local host, over the API as a client uses it: a server started in the
 * lease (an admin's lease, unconfined, and a client's, in its sandbox with no network of its
 * own), pages read through /v1/leases/{id}/http/…, restart, stop, the server gone once the
 * lease is released, another client refused, and a clear 503 when nothing answers.
 */
import { randomBytes } from "node:crypto";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { killArgv, waitForArgv, waitForNoArgv } from "../support/argv-pids";
import { freePort } from "../support/free-port";
import { startApi, type ApiClient, type ApiHarness, type Caller } from "./api-harness";
import { ECHO_SERVER } from "../support/httpd-echo-server";

let api: ApiHarness;
let alice: ApiClient;
let bob: ApiClient;
const started: string[][] = [];

beforeAll(async () => {
  api = await startApi();
  alice = await api.client("alice");
  bob = await api.client("bob");
});
afterAll(async () => {
  await api?.close();
  for (const argv of started) await killArgv(argv);
});

/** Leases a test took, released after it (whatever it did), so the next one finds a free slot. */
const taken: { caller: Caller; id: string }[] = [];
afterEach(async () => {
  for (const { caller, id } of taken.splice(0)) await caller.call("POST", `/v1/leases/${id}/release`, {});
});

async function leaseWithEchoServer(caller: Caller): Promise<{ id: string; port: number; argv: string[] }> {
  const lease = await caller.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
  expect(lease.status, lease.text).toBe(201);
  const id = lease.body.id as string;
  taken.push({ caller, id });
  expect((await caller.call("PUT", `/v1/leases/${id}/files/echo.js`, ECHO_SERVER, { "content-type": "application/octet-stream" })).status).toBe(204);
  const port = await freePort();
  // A unique argv, so the test finds the server among the host's processes.
  const argv = [process.execPath, "echo.js", String(port), randomBytes(6).toString("hex")];
  started.push(argv);
  return { id, port, argv };
}

/** The proxy, as a caller would use it. */
async function viaProxy(token: string, leaseId: string, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  return api.app.request(`http://drydock.test/v1/leases/${leaseId}/http${path}`, { ...init, headers });
}

async function waitForAnswer(caller: Caller, token: string, leaseId: string): Promise<any> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await viaProxy(token, leaseId, "/ready");
    if (res.status === 200) return res.json();
    const text = await res.text();
    if (Date.now() > deadline) {
      const status = await caller.call("GET", `/v1/leases/${leaseId}/httpd`);
      throw new Error(`the server never answered through the proxy: ${res.status} ${text}; its status: ${status.text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each([
  ["an admin's lease (unconfined, the host's loopback)", () => ({ caller: api as Caller, token: api.adminToken })],
  ["a client's lease (its sandbox, through the relay)", () => ({ caller: alice as Caller, token: alice.token })],
])("httpd on the local host: %s", (_name, who) => {
  it("starts a server, proxies method, path, query, headers and body both ways, restarts it, stops it; release kills it", async () => {
    const { caller, token } = who();
    const { id, port, argv } = await leaseWithEchoServer(caller);

    const start = await caller.call("POST", `/v1/leases/${id}/httpd`, { argv, port });
    expect(start.status, start.text).toBe(201);
    expect(start.body).toMatchObject({ leaseId: id, state: "running", program: process.execPath, port, uri: `http://localhost/v1/leases/${id}/http/` });
    expect(start.text).not.toContain(argv[3]); // the arguments are not shown
    const first = await waitForAnswer(caller, token, id);
    await waitForArgv(argv);

    // Everything of the request reaches the server, but Drydock's token and the hop-by-hop headers.
    const res = await viaProxy(token, id, "/some%2Fpath/x?q=1&r=%20", {
      method: "POST",
      body: "the body",
      headers: { "content-type": "text/plain", "x-custom": "kept", "proxy-authorization": "Basic c2VjcmV0", connection: "x-hop", "x-hop": "dropped" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-echo")).toBe("yes");
    expect(res.headers.get("content-security-policy")).toMatch(/^sandbox /);
    const echoed: any = await res.json();
    expect(echoed).toMatchObject({ method: "POST", url: "/some%2Fpath/x?q=1&r=%20", body: "the body", instance: first.instance });
    expect(echoed.headers).toMatchObject({ "x-custom": "kept", "content-type": "text/plain", host: `127.0.0.1:${port}`, "x-forwarded-prefix": `/v1/leases/${id}/http`, "x-forwarded-host": "drydock.test" });
    for (const gone of ["authorization", "proxy-authorization", "x-hop"]) expect(echoed.headers[gone], gone).toBeUndefined();
    expect(JSON.stringify(echoed)).not.toContain(token);

    // The answer streams: its first part arrives while the server still holds the rest.
    const held = await viaProxy(token, id, "/hold");
    const reader = held.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first\n");
    expect(await (await viaProxy(token, id, "/finish")).text()).toBe("finished\n");
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    expect(rest).toBe("last\n");

    // Statuses pass through; a body streams in pieces; HEAD and the bare root work.
    expect((await viaProxy(token, id, "/teapot")).status).toBe(418);
    expect(await (await viaProxy(token, id, "/stream")).text()).toBe("chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
    expect((await viaProxy(token, id, "", { method: "HEAD" })).status).toBe(200);
    expect(((await (await viaProxy(token, id, "")).json()) as any).url).toBe("/");

    // Another client's token reaches neither the server nor its state.
    for (const [method, url] of [["GET", `/v1/leases/${id}/http/ready`], ["POST", `/v1/leases/${id}/http/x`], ["GET", `/v1/leases/${id}/httpd`], ["DELETE", `/v1/leases/${id}/httpd`], ["POST", `/v1/leases/${id}/httpd/restart`]] as const) {
      const refused = await bob.call(method, url);
      expect(refused.status, `${method} ${url}`).toBe(404);
      expect(refused.body.error.message).toBe(`lease ${id} not found`);
    }

    // A second start is refused while it runs; a restart gives a new process on the same port.
    const again = await caller.call("POST", `/v1/leases/${id}/httpd`, { argv, port });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toBe(`cannot start httpd of lease ${id}: it is running`);
    const restarted = await caller.call("POST", `/v1/leases/${id}/httpd/restart`);
    expect(restarted.status, restarted.text).toBe(200);
    expect(restarted.body.state).toBe("running");
    const second = await waitForAnswer(caller, token, id);
    expect(second.instance).not.toBe(first.instance);
    expect((await caller.call("GET", `/v1/leases/${id}/httpd`)).body.output).toContain(`listening on ${port}`);

    // Stopped: the proxy says so, clearly, and the process is gone.
    const stopped = await caller.call("DELETE", `/v1/leases/${id}/httpd`);
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ state: "stopped" });
    await waitForNoArgv(argv);
    const none = await viaProxy(token, id, "/ready");
    expect(none.status).toBe(503);
    expect(await none.json()).toMatchObject({ error: { code: "interface_unavailable", message: expect.stringContaining("is not running: it was stopped"), details: { port, reason: "not_running" } } });

    // Started once more, then the lease is released: the server goes with it.
    expect((await caller.call("POST", `/v1/leases/${id}/httpd/restart`, {})).status).toBe(200);
    await waitForAnswer(caller, token, id);
    expect((await caller.call("POST", `/v1/leases/${id}/release`, {})).status).toBe(200);
    await caller.pollLease(id, (l) => l.status === "destroyed");
    await waitForNoArgv(argv);
    const afterRelease = await viaProxy(token, id, "/ready");
    expect(afterRelease.status).toBe(409);
    expect((await caller.call("GET", `/v1/leases/${id}/httpd`)).status).toBe(409);
  });

  it("nothing listening on the port is a 503 with a JSON error, never a 500; a server that exits says how", async () => {
    const { caller, token } = who();
    const { id, port } = await leaseWithEchoServer(caller);
    const never = await caller.call("GET", `/v1/leases/${id}/httpd`);
    expect(never.status).toBe(404);
    const notStarted = await viaProxy(token, id, "/");
    expect(notStarted.status).toBe(503);
    expect(((await notStarted.json()) as any).error).toMatchObject({ message: `no server was started for lease ${id} (POST /v1/leases/${id}/httpd starts one)`, details: { reason: "not_started" } });

    // A server that listens elsewhere: the port answers nothing.
    const sleeper = ["sleep", `97.${Math.floor(Math.random() * 1e9)}`];
    started.push(sleeper);
    expect((await caller.call("POST", `/v1/leases/${id}/httpd`, { argv: sleeper, port })).status).toBe(201);
    const refused = await viaProxy(token, id, "/");
    expect(refused.status).toBe(503);
    const body: any = await refused.json();
    expect(body.error).toMatchObject({ code: "interface_unavailable", details: { port, reason: "unreachable" } });
    expect(body.error.message).toContain(`nothing answers on port ${port}`);
    expect(body.error.message).toContain("connection refused");
    expect((await caller.call("DELETE", `/v1/leases/${id}/httpd`)).status).toBe(200);

    // A program that exits at once.
    const exits = await caller.call("POST", `/v1/leases/${id}/httpd/restart`, { argv: ["sh", "-c", "echo no such module >&2; exit 3"] });
    expect(exits.status).toBe(200);
    const status = await waitForState(caller, id, "exited");
    expect(status).toMatchObject({ exitCode: 3, output: "no such module\n" });
    const exited = await viaProxy(token, id, "/");
    expect(exited.status).toBe(503);
    expect(((await exited.json()) as any).error.message).toContain("exited (exit code 3)");
    expect((await caller.call("POST", `/v1/leases/${id}/release`, {})).status).toBe(200);
  });
});

async function waitForState(caller: Caller, id: string, state: string): Promise<any> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await caller.call("GET", `/v1/leases/${id}/httpd`);
    if (res.body?.state === state) return res.body;
    if (Date.now() > deadline) throw new Error(`httpd of ${id} never got ${state}: ${res.text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("httpd in a client's sandbox", () => {
  it("does not open the sandbox: no network to the host while it runs, and the relay's directory is the service's", async () => {
    const { id, port, argv } = await leaseWithEchoServer(alice);
    expect((await alice.call("POST", `/v1/leases/${id}/httpd`, { argv, port })).status).toBe(201);
    await waitForAnswer(alice, alice.token, id);

    // A port of the host's loopback, listening: the sandbox's loopback is its own, so it is not there.
    const hostServer = createServer((socket) => socket.end("the host"));
    await new Promise<void>((resolve) => hostServer.listen(0, "127.0.0.1", resolve));
    const hostPort = (hostServer.address() as AddressInfo).port;
    try {
      const probe = `require("node:net").connect(${hostPort}, "127.0.0.1").on("connect", () => { console.log("reached"); process.exit(0); }).on("error", (e) => { console.log(e.code); process.exit(1); })`;
      const reached = await alice.call("POST", `/v1/leases/${id}/commands`, { argv: [process.execPath, "-e", probe] });
      expect(reached.body).toMatchObject({ exitCode: 1, stdout: "ECONNREFUSED\n" });
    } finally {
      await new Promise<void>((resolve) => hostServer.close(() => resolve()));
    }

    // The relay's socket sits in a directory of the service's: the lease can use it, not change it.
    const script = [
      "d=$(ls -d /tmp/.drydock-httpd-*)",
      'test -S "$d/s" && echo socket',
      'touch "$d/x" 2>/dev/null || echo no-create',
      'mv "$d/s" /tmp/s 2>/dev/null || echo no-move',
      'rm -f "$d/s" 2>/dev/null; test -S "$d/s" && echo still-there',
    ].join("; ");
    const tried = await alice.call("POST", `/v1/leases/${id}/commands`, { argv: ["sh", "-c", script] });
    expect(tried.body.stdout).toBe("socket\nno-create\nno-move\nstill-there\n");
    // And the server still answers through it.
    expect((await viaProxy(alice.token, id, "/after")).status).toBe(200);
  });
});

describe("httpd requests that fail validation", () => {
  it("names the field, appends nothing, and starts nothing; a good start and stop append nothing either", async () => {
    const { id, port } = await leaseWithEchoServer(alice);
    const before = await api.eventCount();
    const cases: [unknown, RegExp][] = [
      [{ argv: [], port }, /^argv: /],
      [{ argv: "python3 -m http.server", port }, /^argv: /],
      [{ argv: [1, 2], port }, /^argv\.0: /],
      [{ argv: [""], port }, /^argv\.0: /],
      [{ argv: ["true"], port: 80 }, /^port: /],
      [{ argv: ["true"], port: 65536 }, /^port: /],
      [{ argv: ["true"], port: 8080.5 }, /^port: /],
      [{ argv: ["true"], port: "8080" }, /^port: /],
      [{ argv: ["true"] }, /^port: /],
      [{ argv: ["true"], port, extra: 1 }, /^extra: /],
    ];
    for (const [body, message] of cases) {
      const res = await alice.call("POST", `/v1/leases/${id}/httpd`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.message, JSON.stringify(body)).toMatch(message);
    }
    const badCwd = await alice.call("POST", `/v1/leases/${id}/httpd`, { argv: ["true"], port, cwd: "no/such/dir" });
    expect(badCwd.status).toBe(404);
    expect((await alice.call("GET", `/v1/leases/${id}/httpd`)).status).toBe(404);
    expect((await alice.call("POST", `/v1/leases/${id}/httpd/restart`, { port: 22 })).status).toBe(400);
    expect(await api.eventCount()).toBe(before);
    // A server's life is not the lease's history: starting and stopping one appends nothing either.
    expect((await alice.call("POST", `/v1/leases/${id}/httpd`, { argv: ["sleep", "30"], port })).status).toBe(201);
    expect((await alice.call("DELETE", `/v1/leases/${id}/httpd`)).status).toBe(200);
    expect(await api.eventCount()).toBe(before);
    expect((await alice.call("POST", `/v1/leases/${id}/release`, {})).status).toBe(200);
  });
});
