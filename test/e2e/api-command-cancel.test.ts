import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouteAccessTable } from "../../src/api/route-access-table";
import { killArgv, pidsWithArgv, uniqueSleep, waitForArgv, waitForNoArgv } from "../support/argv-pids";
import { listenOnLoopback, type LoopbackServer } from "../support/loopback-server";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Cancelling a running command (issue 14): DELETE /v1/leases/{id}/commands/{commandId} with the id
 * from the Drydock-Command-Id header, and a client that closes its connection. What is checked is
 * what a user would check on the host: the process is gone from /proc.
 *
 * Over a real socket (a disconnect is a socket closing). Admin leases on the local host, so the
 * commands are not sandboxed and /proc shows them as they are.
 */
let api: ApiHarness;
let server: LoopbackServer | undefined;
let port: number;
let leaseId: string;
let otherLeaseId: string;
const started: string[][] = [];

beforeAll(async () => {
  api = await startApi();
  server = await listenOnLoopback((req, env) => api.app.fetch(req, env as never));
  port = server.port;
  const [one, two] = await Promise.all([api.call("POST", "/v1/leases?wait=10", { resourceType: "host" }), api.call("POST", "/v1/leases?wait=10", { resourceType: "host" })]);
  if (one.status !== 201 || two.status !== 201) throw new Error(`no active leases: ${one.status} ${one.text} / ${two.status} ${two.text}`);
  leaseId = one.body.id;
  otherLeaseId = two.body.id;
});

afterEach(async () => {
  for (const argv of started.splice(0)) await killArgv(argv);
});

afterAll(async () => {
  await server?.close();
  await api?.close();
});

/** A sleep with a unique argv, started by `sh` after `before` (a script, or nothing); remembered for cleanup. */
function sleeper(base: number, before = ""): { argv: string[]; sleep: string[] } {
  const sleep = uniqueSleep(base);
  started.push(sleep);
  return { argv: ["sh", "-c", `${before}exec ${sleep.join(" ")}`], sleep };
}

/** POSTs a command over a socket; resolves with the request and, once its headers are in, the response. */
function post(body: unknown, stream: boolean): { req: ClientRequest; response: Promise<IncomingMessage> } {
  const req = request({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: `/v1/leases/${leaseId}/commands${stream ? "?stream=1" : ""}`,
    headers: { Authorization: `Bearer ${api.adminToken}`, "content-type": "application/json" },
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
  });
  req.end(JSON.stringify(body));
  return { req, response };
}

async function ndjson(res: IncomingMessage): Promise<any[]> {
  let text = "";
  for await (const chunk of res as AsyncIterable<Buffer>) text += chunk.toString("utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

describe("DELETE /v1/leases/{id}/commands/{commandId}", () => {
  it("kills a running command on the host; its stream ends with cancelled: true", async () => {
    const { argv, sleep } = sleeper(301, "echo started; ");
    const { response } = post({ argv }, true);
    const res = await response;
    expect(res.statusCode).toBe(200);
    const commandId = res.headers["drydock-command-id"];
    expect(commandId).toMatch(/^cm_[0-9a-f]{24}$/);
    await waitForArgv(sleep);
    const lines = ndjson(res);

    const cancelled = await api.call("DELETE", `/v1/leases/${leaseId}/commands/${commandId}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toEqual({ id: commandId, leaseId, ended: true });
    expect(await pidsWithArgv(sleep)).toEqual([]);

    const got = await lines;
    expect(got[0]).toEqual({ stream: "stdout", data: "started\n" });
    expect(got.at(-1).exit).toMatchObject({ exitCode: null, signal: "SIGTERM", timedOut: false, cancelled: true });
    // It has ended, so it is no longer there to cancel.
    expect((await api.call("DELETE", `/v1/leases/${leaseId}/commands/${commandId}`)).status).toBe(404);
  }, 60_000);

  it("answers 404 for an unknown command id, and for a command of another lease", async () => {
    const unknown = await api.call("DELETE", `/v1/leases/${leaseId}/commands/cm_000000000000000000000000`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: "not_found", message: "command cm_000000000000000000000000 not found" });
    expect((await api.call("DELETE", `/v1/leases/${leaseId}/commands/${"x".repeat(300)}`)).status).toBe(404);

    const { argv, sleep } = sleeper(302, "echo started; ");
    const { req, response } = post({ argv }, true);
    const res = await response;
    const commandId = res.headers["drydock-command-id"] as string;
    await waitForArgv(sleep);
    const elsewhere = await api.call("DELETE", `/v1/leases/${otherLeaseId}/commands/${commandId}`);
    expect(elsewhere.status).toBe(404);
    expect(await pidsWithArgv(sleep)).toHaveLength(1);
    req.destroy();
    await waitForNoArgv(sleep);
  }, 60_000);

  it("is a lease route: its owner or an admin may call it; another client sees no such lease", async () => {
    expect(new RouteAccessTable(api.app).lookup("DELETE", "/v1/leases/ls_1/commands/cm_1").access).toEqual({ kind: "lease", leaseId: "ls_1" });
    const bob = await api.client("bob-cancel");
    const refused = await bob.call("DELETE", `/v1/leases/${leaseId}/commands/cm_000000000000000000000000`);
    expect(refused.status).toBe(404);
    expect(refused.body.error.message).toBe(`lease ${leaseId} not found`);
  });

  it("is in the OpenAPI document, and the command route documents the id header", async () => {
    const doc = (await api.call("GET", "/openapi.json")).body;
    const cancel = doc.paths["/v1/leases/{id}/commands/{commandId}"]?.delete;
    expect(cancel).toBeDefined();
    expect(cancel.parameters.map((p: any) => p.name).sort()).toEqual(["commandId", "id"]);
    expect(Object.keys(doc.paths["/v1/leases/{id}/commands"].post.responses["200"].headers)).toEqual(["Drydock-Command-Id"]);
  });
});

describe("a client that goes away", () => {
  it("closing a streamed response kills the command", async () => {
    const { argv, sleep } = sleeper(303, "echo started; ");
    const { req, response } = post({ argv }, true);
    const res = await response;
    expect(res.statusCode).toBe(200);
    await waitForArgv(sleep);
    req.destroy();
    await waitForNoArgv(sleep);
  }, 60_000);

  it("closing the connection before the stream has started (no output yet) kills the command", async () => {
    const { argv, sleep } = sleeper(304);
    const { req, response } = post({ argv }, true);
    response.catch(() => {});
    await waitForArgv(sleep);
    req.destroy();
    await waitForNoArgv(sleep);
  }, 60_000);

  it("closing the connection of a plain (JSON) command kills it", async () => {
    const { argv, sleep } = sleeper(305);
    const { req, response } = post({ argv }, false);
    response.catch(() => {});
    await waitForArgv(sleep);
    req.destroy();
    await waitForNoArgv(sleep);
  }, 60_000);

  it("a command whose client stays gets its whole result, cancelled: false", async () => {
    const res = await api.call("POST", `/v1/leases/${leaseId}/commands`, { argv: ["sh", "-c", "echo hi"] });
    expect(res.status).toBe(200);
    expect(res.headers.get("drydock-command-id")).toMatch(/^cm_[0-9a-f]{24}$/);
    expect(res.body).toMatchObject({ exitCode: 0, stdout: "hi\n", cancelled: false, timedOut: false });
  });
});
