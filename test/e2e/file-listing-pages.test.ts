import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiClient, type ApiHarness } from "./api-harness";

/**
 * Listing a lease's directory a page at a time (GET …/files?limit=&after=, …/files/{dir}?list=1&…).
 * A lease's commands can fill a directory with a million names; a listing that answered them all
 * at once held them all in the service. Both local adapters: an admin's lease lists in the
 * service's process, a client's through the helper in its sandbox.
 */
let api: ApiHarness;
let home: string;
let alice: ApiClient;

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), "drydock-home-"));
  api = await startApi({}, { localHost: { root: path.join(home, "local-host"), slots: 4 }, sandbox: { hidden: [home] } });
  alice = await api.client("alice");
});

afterAll(async () => {
  await api?.close();
  await rm(home, { recursive: true, force: true });
});

const COUNT = 2_345;

describe.each(["admin", "client"] as const)("listing a lease's directory by pages (%s)", (who) => {
  let caller: ApiClient | ApiHarness;
  let id: string;
  const names = Array.from({ length: COUNT }, (_, i) => `f${i}`).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  beforeAll(async () => {
    caller = who === "admin" ? api : alice;
    const created = await caller.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
    if (created.status !== 201 || created.body.status !== "active") throw new Error(`no active lease: ${created.status} ${created.text}`);
    id = created.body.id;
    const made = await caller.call("POST", `/v1/leases/${id}/commands`, { argv: ["sh", "-c", `mkdir many && cd many && i=0; while [ $i -lt ${COUNT} ]; do : > f$i; i=$((i+1)); done`] });
    expect(made.body?.exitCode, made.text).toBe(0);
  }, 120_000);

  it("answers 1,000 entries by default, and where the next page starts", async () => {
    const first = await caller.call("GET", `/v1/leases/${id}/files/many?list=1`);
    expect(first.status).toBe(200);
    expect(first.body.items.map((e: { name: string }) => e.name)).toEqual(names.slice(0, 1000));
    expect(first.body.items[0]).toMatchObject({ type: "file", size: 0 });
    expect(first.body.nextAfter).toBe(names[999]);
  });

  it("walks every entry once, in order, page after page, and says when it is at the last", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const res = await caller.call("GET", `/v1/leases/${id}/files/many?list=1&limit=700${after === null ? "" : `&after=${encodeURIComponent(after)}`}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((e: { name: string }) => e.name));
      after = res.body.nextAfter;
      pages++;
    } while (after !== null && pages < 10);
    expect(pages).toBe(Math.ceil(COUNT / 700));
    expect(seen).toEqual(names);
  });

  it("pages the lease's own directory too", async () => {
    const res = await caller.call("GET", `/v1/leases/${id}/files?limit=1`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((e: { name: string }) => e.name)).toEqual(["many"]);
    expect(res.body.nextAfter).toBeNull();
  });

  it("refuses a page it cannot answer, naming the parameter", async () => {
    for (const [query, field] of [
      ["limit=0", "limit"],
      ["limit=10001", "limit"],
      ["limit=ten", "limit"],
      ["after=", "after"],
      ["after=a%2Fb", "after"],
      [`after=${"x".repeat(256)}`, "after"],
    ] as const) {
      const res = await caller.call("GET", `/v1/leases/${id}/files/many?list=1&${query}`);
      expect(`${query}: ${res.status}`).toBe(`${query}: 400`);
      expect(res.body.error.message.startsWith(`${field}:`), res.text).toBe(true);
      expect(res.body.error.details).toMatchObject({ field });
    }
  });
});
