import { request, type ClientRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DISCONNECT_DETAIL } from "../../src/api/lease-routes";
import { cancelWaitingLease } from "../../src/commands/lease-commands";
import { waitUntil } from "../support/wait-until";
import { listenOnLoopback, type LoopbackServer } from "../support/loopback-server";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * `?wait` with cancelOnDisconnect (issue 14, "no leaked slots"): a client that goes away while
 * its lease is still pending gives the lease back; one that did not ask leaves it pending.
 *
 * Over a real socket, since a disconnect is a socket closing. The local host's two slots are
 * held by two active leases, so every lease asked for here waits. The server tells the test when
 * each request's handler has returned, so "the lease stays" is checked after the handler has
 * seen the disconnect and finished, not after some sleep.
 */
let api: ApiHarness;
let server: LoopbackServer | undefined;
let port: number;
const holders: string[] = [];
/** The requests the server took, in order of arrival; each settles when its handler has returned. */
const handled: { done: Promise<void> }[] = [];

beforeAll(async () => {
  api = await startApi();
  server = await listenOnLoopback((req, env) => {
    const response = Promise.resolve(api.app.fetch(req, env as never));
    handled.push({ done: response.then(() => undefined, () => undefined) });
    return response;
  });
  port = server.port;
  for (let i = 0; i < 2; i++) {
    const held = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    if (held.status !== 201) throw new Error(`holder ${i}: ${held.status} ${held.text}`);
    holders.push(held.body.id);
  }
});

afterAll(async () => {
  await server?.close();
  await api?.close();
});

/**
 * Sends a request over a socket and never reads the answer; the caller destroys it. `started`:
 * the server has taken it; `handler`: its handler has returned.
 */
function open(method: string, url: string, token: string, body?: unknown): { req: ClientRequest; started: Promise<void>; handler: Promise<void> } {
  const before = handled.length;
  const req = request({ host: "127.0.0.1", port, method, path: url, headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" } });
  req.on("error", () => {}); // the socket is destroyed on purpose
  req.end(body === undefined ? undefined : JSON.stringify(body));
  const taken = waitUntil(`the server to take ${method} ${url}`, () => handled[before], 10_000);
  return { req, started: taken.then(() => undefined), handler: taken.then((h) => h.done) };
}

/** The one pending lease of `owner` (the one the open request asked for). */
async function pendingLeaseOf(owner: string): Promise<any> {
  return waitUntil(`a pending lease of ${owner}`, async () => {
    const page = await api.call("GET", `/v1/leases?owner=${owner}&status=pending`);
    return page.body.items.length === 1 ? page.body.items[0] : undefined;
  });
}

async function eventsOf(id: string): Promise<any[]> {
  return (await api.call("GET", `/v1/leases/${id}/events`)).body.items;
}

describe("cancelOnDisconnect", () => {
  it("?cancelOnDisconnect=1: the client's disconnect releases its pending lease, as the client, saying why", async () => {
    const ci = await api.client("gone-query");
    const { req, handler } = open("POST", "/v1/leases?wait=120&cancelOnDisconnect=1", ci.token, { resourceType: "host" });
    const lease = await pendingLeaseOf("gone-query");
    req.destroy();
    await handler;
    const after = await api.pollLease(lease.id, (l) => l.status === "released" || l.status === "destroyed", 10_000);
    expect(after.endReason).toBe(`requested: ${DISCONNECT_DETAIL}`);
    const released = (await eventsOf(lease.id)).find((e) => e.type === "LeaseReleased");
    expect(released.data).toEqual({ reason: "requested", detail: "client disconnected while waiting" });
    expect(released.metadata).toMatchObject({ actor: "gone-query", tokenId: ci.tokenId });
  }, 60_000);

  it("the cancelOnDisconnect body field does the same", async () => {
    const ci = await api.client("gone-body");
    const { req, handler } = open("POST", "/v1/leases?wait=120", ci.token, { resourceType: "host", cancelOnDisconnect: true });
    const lease = await pendingLeaseOf("gone-body");
    req.destroy();
    await handler;
    const after = await api.pollLease(lease.id, (l) => l.status === "released" || l.status === "destroyed", 10_000);
    expect(after.endReason).toBe(`requested: ${DISCONNECT_DETAIL}`);
  }, 60_000);

  it("GET /v1/leases/{id}?wait with cancelOnDisconnect=1 also releases it", async () => {
    const ci = await api.client("gone-get");
    const created = await ci.call("POST", "/v1/leases", { resourceType: "host" });
    expect(created.status).toBe(202);
    const { req, started, handler } = open("GET", `/v1/leases/${created.body.id}?wait=120&cancelOnDisconnect=1`, ci.token);
    // Once the server has it, the handler waits: the lease cannot settle (no free slot).
    await started;
    req.destroy();
    await handler;
    const after = await api.pollLease(created.body.id, (l) => l.status === "released" || l.status === "destroyed", 10_000);
    expect(after.endReason).toBe(`requested: ${DISCONNECT_DETAIL}`);
  }, 60_000);

  it("without it, the lease stays pending after the client disconnects", async () => {
    const ci = await api.client("stays");
    const { req, handler } = open("POST", "/v1/leases?wait=120", ci.token, { resourceType: "host" });
    const lease = await pendingLeaseOf("stays");
    req.destroy();
    // The handler has returned: it saw the disconnect, and appended whatever it was going to.
    await handler;
    expect((await api.call("GET", `/v1/leases/${lease.id}`)).body.status).toBe("pending");
    expect((await eventsOf(lease.id)).map((e) => e.type)).not.toContain("LeaseReleased");
    expect((await ci.call("POST", `/v1/leases/${lease.id}/release`)).status).toBe(200);
  }, 60_000);

  it("an active lease is not released by a disconnect", async () => {
    // Free a slot: the next lease activates, and its client then goes away before reading it.
    expect((await api.call("POST", `/v1/leases/${holders.pop()}/release`)).status).toBe(200);
    const ci = await api.client("got-it");
    const { req, handler } = open("POST", "/v1/leases?wait=120&cancelOnDisconnect=1", ci.token, { resourceType: "host" });
    await handler;
    req.destroy();
    const leases = (await api.call("GET", "/v1/leases?owner=got-it")).body.items;
    expect(leases).toHaveLength(1);
    expect(leases[0].status).toBe("active");
    expect((await eventsOf(leases[0].id)).map((e: any) => e.type)).not.toContain("LeaseReleased");

    // Nor when the disconnect is seen just as it activated: the cancel leaves an active lease alone.
    const before = (await eventsOf(leases[0].id)).length;
    expect(await cancelWaitingLease(api.drydock.commands, leases[0].id, DISCONNECT_DETAIL, { actor: "got-it" })).toBe(false);
    expect((await eventsOf(leases[0].id)).length).toBe(before);
    expect((await api.call("GET", `/v1/leases/${leases[0].id}`)).body.status).toBe("active");
  }, 60_000);
});
