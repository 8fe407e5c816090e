import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DrydockClient, DrydockError, type ExecStreamLine } from "../../src/client";
import { listenOnLoopback, type LoopbackServer } from "../support/loopback-server";
import { startApi, type ApiClient, type ApiHarness } from "./api-harness";

/**
 * The typed client (`drydock/client`) against the service on a real socket, as a CI job would use
 * it: with a client's token, lease a host, run commands, move a file, release; and the API's
 * errors arriving as DrydockError with their code.
 */
let api: ApiHarness;
let server: LoopbackServer;
let url: string;
let alice: ApiClient;
let drydock: DrydockClient;

beforeAll(async () => {
  api = await startApi();
  // The app's own fetch: the harness's token-adding wrapper is on app.request only.
  server = await listenOnLoopback(api.app.fetch);
  url = `http://127.0.0.1:${server.port}`;
  alice = await api.client("alice");
  drydock = new DrydockClient({ url, token: alice.token });
});

afterAll(async () => {
  await server?.close();
  await api?.close();
});

/** The error a call fails with (a test that expects one fails if it resolves). */
async function failureOf(call: Promise<unknown>): Promise<DrydockError> {
  const error = await call.then(
    (value) => new Error(`expected an error, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DrydockError);
  return error as DrydockError;
}

describe("a client's lease through the typed client", () => {
  it("leases a host, runs a command, writes and reads a file, renews, explains and releases it", async () => {
    const lease = await drydock.requestLease({ resourceType: "host", ttlSeconds: 600 }, { wait: 30 });
    expect(lease).toMatchObject({ resourceType: "host", status: "active", owner: "alice" });

    const result = await drydock.exec(lease.id, { argv: ["sh", "-c", "echo hello; echo oops >&2; exit 3"] });
    expect(result).toMatchObject({ exitCode: 3, signal: null, stdout: "hello\n", stderr: "oops\n", timedOut: false, cancelled: false });

    await drydock.writeFile(lease.id, "build/notes.txt", "written by the client\n");
    expect(new TextDecoder().decode(await drydock.readFile(lease.id, "build/notes.txt"))).toBe("written by the client\n");
    const bytes = new Uint8Array([0, 1, 2, 255]);
    await drydock.writeFile(lease.id, "build/raw.bin", bytes);
    expect(await drydock.readFile(lease.id, "build/raw.bin")).toEqual(bytes);
    expect((await drydock.listFiles(lease.id, "build")).items.map((f) => f.name).sort()).toEqual(["notes.txt", "raw.bin"]);
    // A page at a time, and a file as a stream.
    expect(await drydock.listFiles(lease.id, "build", { limit: 1 })).toMatchObject({ items: [{ name: "notes.txt" }], nextAfter: "notes.txt" });
    expect(await drydock.listFiles(lease.id, "build", { limit: 1, after: "notes.txt" })).toMatchObject({ items: [{ name: "raw.bin" }], nextAfter: null });
    const opened = await drydock.openFile(lease.id, "build/raw.bin");
    expect(opened.size).toBe(4);
    expect(new Uint8Array(await new Response(opened.body).arrayBuffer())).toEqual(bytes);
    expect((await drydock.exec(lease.id, { argv: ["cat", "build/notes.txt"] })).stdout).toBe("written by the client\n");
    await drydock.removeFile(lease.id, "build/raw.bin");
    expect((await drydock.listFiles(lease.id, "build")).items.map((f) => f.name)).toEqual(["notes.txt"]);

    // Streamed: the output as it comes, then the exit line.
    const stream = await drydock.execStream(lease.id, { argv: ["sh", "-c", "echo one; echo two >&2; exit 0"] });
    expect(stream.commandId).toMatch(/^cm_/);
    const lines: ExecStreamLine[] = [];
    for await (const line of stream.lines) lines.push(line);
    const printed = (which: "stdout" | "stderr") => lines.flatMap((l) => ("stream" in l && l.stream === which ? [l.data] : [])).join("");
    expect(printed("stdout")).toBe("one\n");
    expect(printed("stderr")).toBe("two\n");
    expect(lines.at(-1)).toMatchObject({ exit: { exitCode: 0, signal: null, timedOut: false } });

    const renewed = await drydock.renewLease(lease.id, 3600);
    expect(Date.parse(renewed.expiresAt!)).toBeGreaterThan(Date.parse(lease.expiresAt!));
    expect((await drydock.listLeases({ status: "active" })).items.map((l) => l.id)).toEqual([lease.id]);
    const explanation = await drydock.explainLease(lease.id);
    expect(explanation).toMatchObject({ leaseId: lease.id, status: "active", stillWaiting: false });

    const released = await drydock.releaseLease(lease.id);
    expect(released).toMatchObject({ id: lease.id, status: "released" });
    expect((await drydock.leaseEvents(lease.id)).items.map((e) => e.type)).toContain("LeaseReleased");

    // A second release is refused by the lease's machine: a typed error with the API's code.
    const again = await failureOf(drydock.releaseLease(lease.id));
    expect(again).toMatchObject({ status: 409, code: "transition_refused" });
    expect(again.message).toMatch(new RegExp(`^cannot release lease ${lease.id}: it is (released|destroyed)$`));
  }, 60_000);
});

describe("errors arrive as DrydockError with the API's code, message and details", () => {
  it("a lease that does not exist: 404 not_found", async () => {
    const missing = "ls_0000000000000000000000";
    const error = await failureOf(drydock.getLease(missing));
    expect(error).toMatchObject({ status: 404, code: "not_found", message: `lease ${missing} not found`, details: { kind: "lease", id: missing } });
  });

  it("a request that fails validation: 400 validation_failed naming the field, nothing appended", async () => {
    const before = await api.eventCount();
    // The request's type comes from the route's schema: a string TTL does not compile.
    // @ts-expect-error ttlSeconds is a number
    const error = await failureOf(drydock.requestLease({ resourceType: "host", ttlSeconds: "60" }));
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(error.message).toMatch(/^ttlSeconds: /);
    expect(await api.eventCount()).toBe(before);
  });

  it("a client on an admin route: 403 forbidden; no token: 401 unauthorized", async () => {
    expect(await failureOf(drydock.listTokens())).toMatchObject({ status: 403, code: "forbidden", message: "this requires the admin role" });
    expect(await failureOf(new DrydockClient({ url }).listLeases())).toMatchObject({ status: 401, code: "unauthorized" });
  });

  it("a type no blueprint provides: 422 unsatisfiable with the reason", async () => {
    const error = await failureOf(drydock.requestLease({ resourceType: "gpu" }));
    expect(error).toMatchObject({ status: 422, code: "unsatisfiable", message: 'no blueprint provides resources of type "gpu"' });
  });
});

describe("the admin calls the CLI makes", () => {
  it("issues a token, authorizes its client on a blueprint, lists both, and revokes the token", async () => {
    const admin = new DrydockClient({ url, token: api.adminToken });
    const issued = await admin.issueToken({ owner: "ci-typed", role: "client" });
    expect(issued).toMatchObject({ owner: "ci-typed", role: "client", status: "active" });
    expect(issued.token).toMatch(/^ddk_/);
    const ci = new DrydockClient({ url, token: issued.token });

    const [blueprint] = (await admin.listBlueprints({ resourceType: "host" })).items;
    const asked = await ci.requestAuthorization(blueprint!.id);
    expect(asked).toMatchObject({ blueprintId: blueprint!.id, client: "ci-typed", state: "requested" });
    expect(await admin.approveAuthorization(asked.id)).toMatchObject({ id: asked.id, state: "approved", decidedBy: "admin" });
    expect((await ci.listAuthorizations()).items.map((a) => [a.id, a.state])).toEqual([[asked.id, "approved"]]);
    expect((await ci.listBlueprints()).items.map((b) => b.id)).toEqual([blueprint!.id]);

    expect((await admin.listTokens({ owner: "ci-typed" })).items.map((t) => t.id)).toEqual([issued.id]);
    expect(await admin.revokeToken(issued.id, { reason: "done" })).toMatchObject({ id: issued.id, status: "revoked" });
    expect(await failureOf(ci.listLeases())).toMatchObject({ status: 401, code: "unauthorized" });
  });
});
