import { existsSync } from "node:fs";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streamIdOf } from "../../events/envelope";
import { countCommits } from "../../src/store/commit-count";
import { startApi, type ApiHarness } from "../e2e/api-harness";
import { statesDifferingFromLog } from "../support/stored-states";
import { testDialect } from "../support/test-database";
import { waitUntil } from "../support/wait-until";

/**
 * The fast path of a warm lease cycle on the local host: a client asks with `?wait`, uses nothing,
 * releases, and the lease is destroyed. The request is decided on, acquired and activated in one
 * transaction by the process that took it; the release's teardown runs in that process too; no
 * worker is woken to claim what that process runs itself. The statement budget turns a slower
 * path into a red test, not a hunch (bench/cycle-statements.ts prints the breakdown). It holds for
 * a client's cycle too: its request's authorization is read with the blueprints; its release, on
 * a lease this process made for a token it knows, is checked against the lease's owner as made
 * and its token is checked by the release's own append (TokenCheck). The request is checked
 * against the capacity view its first decision is made over, and a token this process knows is
 * read in that view too: one read for all three; warm, that view is the one the request before
 * it read (the optimistic acquire), and the append's guard checks what the decision rests on.
 */
// Four statements warm (five when the acquire must read its view: the first request of its kind,
// a kept view refused as stale), and on PostgreSQL up to three NOTIFYs when the cycle's notices do
// not gather (under load).
const STATEMENT_BUDGET = 8;
const COMMIT_BUDGET = 3;
/** Our own probe of the lease's status while waiting for the teardown: not part of the cycle. */
const PROBE = "probe_status";

let api: ApiHarness;
let counting = false;
const statements: string[] = [];

beforeAll(async () => {
  // Rate limits off: a cycle is faster than a token's lease limit allows.
  api = await startApi({ rateLimits: { leases: null, commands: null } }, { localHost: { slots: 1 } }, { onQuery: (text) => counting && statements.push(text) });
});

afterAll(async () => {
  await api?.close();
});

/** Requests a host with `?wait`, as the admin or as `token`. */
async function request(wait: number, token?: string) {
  const res = await api.as(token ?? api.adminToken).call("POST", `/v1/leases?wait=${wait}`, { resourceType: "host" });
  return { status: res.status, lease: res.body as { id: string; status: string; waitReason: string | null } };
}

async function release(id: string, token?: string) {
  const res = await api.as(token ?? api.adminToken).call("POST", `/v1/leases/${id}/release`, {});
  expect(res.status).toBe(200);
}

async function statusOf(id: string): Promise<string> {
  const { rows } = await sql<{ probe_status: string }>`SELECT status AS ${sql.raw(PROBE)} FROM leases WHERE lease_id = ${id}`.execute(api.database.db);
  return rows[0]!.probe_status;
}

async function cycle(token?: string): Promise<string> {
  const { status, lease } = await request(30, token);
  expect(status).toBe(201);
  expect(lease.status).toBe("active");
  await release(lease.id, token);
  await waitUntil(`lease ${lease.id} destroyed`, async () => (await statusOf(lease.id)) === "destroyed", 10_000);
  return lease.id;
}

/** The statements `cycles` runs of `cycle` send, our own probes left out. */
/**
 * The statements of `cycles` warm cycles, our own probes left out, after checking them against
 * the budget: no BEGIN (each append is one statement, its own transaction: append-statement.ts),
 * at most the budget's commits and statements per cycle.
 */
async function cycleStatements(cycles: number, token?: string): Promise<string[]> {
  // Appends' NOTIFYs go out in the background (change-notifier.ts): an earlier cycle's must
  // not be counted here, nor the last one's missed.
  await api.drydock.notifier.flush();
  statements.length = 0;
  counting = true;
  try {
    for (let i = 0; i < cycles; i++) await cycle(token);
    await api.drydock.notifier.flush();
  } finally {
    counting = false;
  }
  const sent = statements.filter((s) => !s.includes(PROBE));
  expect(sent.filter((s) => /^begin\b/i.test(s.trim()))).toEqual([]);
  expect(countCommits(sent) / cycles).toBeLessThanOrEqual(COMMIT_BUDGET);
  expect(sent.length / cycles).toBeLessThanOrEqual(STATEMENT_BUDGET);
  return sent;
}

const eventsOf = async (leaseId: string) => api.drydock.store.readStream(streamIdOf("lease", leaseId));

describe(`the lease fast path (${testDialect})`, () => {
  it("stores request, decision, acquisition and activation in one transaction, attributed to who did each", async () => {
    await cycle(); // builds the local host's resource: the next lease finds it active
    const id = await cycle();
    const events = await eventsOf(id);
    expect(events.map((e) => e.type)).toEqual(["LeaseRequested", "AllocationAttempted", "LeaseAcquired", "LeaseActivated", "LeaseReleased", "LeaseDestroyed"]);
    const [requested, attempted, acquired, activated, released, destroyed] = events;
    expect(new Set([requested, attempted, acquired, activated].map((e) => e!.transactionId)).size).toBe(1);
    expect(released!.transactionId).not.toBe(activated!.transactionId);
    expect(destroyed!.transactionId).not.toBe(released!.transactionId);
    // What the activation made, the teardown removed.
    const { workingDirectory } = activated!.data as { workingDirectory: string };
    expect(existsSync(workingDirectory)).toBe(false);
    // The client asked; the allocator decided and acquired.
    expect(requested!.metadata.actor).toBe("admin");
    expect(attempted!.metadata.actor).toMatch(/^allocator:/);
    expect(activated!.metadata.actor).toMatch(/^allocator:/);
  });

  it("stores for each stream the state its log folds to: a decision made before the request was stored is recorded at the time it decided on", async () => {
    expect(await statesDifferingFromLog(api.database.db)).toEqual([]);
  });

  it(`runs a warm cycle in at most ${STATEMENT_BUDGET} statements and ${COMMIT_BUDGET} commits, wakes no worker to claim and no pool`, async () => {
    await cycle();
    const sent = await cycleStatements(5);
    const claims = sent.filter((s) => /UPDATE work_items SET claimed_by/i.test(s)).length;
    expect(claims).toBe(0);
    // Nothing waits, and the local-host blueprint has no pool policy: no wake-up is sent at all
    // (the pool's is skipped by what the lease's own write returned: work-projection.ts).
    const wakes = sent.filter((s) => /UPDATE work_items SET run_at/i.test(s)).length;
    expect(wakes).toBe(0);
    // The teardown goes by the resource and blueprint the activation went by (inline-teardowns.ts): no read of them.
    expect(sent.filter((s) => s.includes("SELECT r.*, (SELECT to_json(b)"))).toEqual([]);
    // Warm, the capacity is not read at all: each acquire decides over the view the one before it
    // read (the optimistic acquire), its request checked against that view, and its append
    // carries the guard that refuses a stale one (stale-view-guard.ts).
    expect(sent.filter((s) => s.includes("b AS (SELECT * FROM blueprints"))).toHaveLength(0);
    expect(sent.filter((s) => s.includes("FROM leases WHERE status = 'pending' AND resource_type =") && s.includes("drydock_refuse_condition"))).toHaveLength(5);
    expect(sent.filter((s) => /from "blueprints"/i.test(s))).toEqual([]);
    // The token, known since the warm-up, is read in that view, and by no statement of its own.
    expect(sent.filter((s) => /\btokens\b/.test(s) && !/tok AS \(select/i.test(s) && !/for share/i.test(s))).toEqual([]);
    // Nothing is left claimed by a fast path that ended.
    const claimed = await api.database.db.selectFrom("work_items").select("stream_id").where("claimed_by", "is not", null).execute();
    expect(claimed).toEqual([]);
  });

  it(`runs a client's warm cycle, its authorization and ownership checked, in at most ${STATEMENT_BUDGET} statements and ${COMMIT_BUDGET} commits`, async () => {
    const issued = await api.call("POST", "/v1/tokens", { owner: "ci-client", role: "client" });
    // Not authorized yet: refused, naming the blueprint it may ask for.
    const refused = await api.as(issued.body.token).call("POST", "/v1/leases?wait=1", { resourceType: "host" });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain(await api.localHostBlueprintId());
    const client = await api.client("ci-client");
    await cycle(client.token);
    await cycleStatements(5, client.token);
  });

  it("answers a release before its teardown starts, and tears it down right after", async () => {
    const { lease } = await request(30);
    const worker = api.drydock.worker;
    const runClaimedSteps = worker.runClaimedSteps.bind(worker);
    const started: string[] = [];
    worker.runClaimedSteps = (claim, ...rest) => {
      started.push(claim.streamId);
      return runClaimedSteps(claim, ...rest);
    };
    try {
      await release(lease.id);
      // The answer was complete before the teardown began: none of its work is the answer's latency.
      expect(started).toEqual([]);
      await waitUntil(`lease ${lease.id} destroyed`, async () => (await statusOf(lease.id)) === "destroyed", 10_000);
      expect(started).toEqual([streamIdOf("lease", lease.id)]);
    } finally {
      worker.runClaimedSteps = runClaimedSteps;
    }
  });

  it("stores a request that must wait with its decision, and a worker serves it once the slot frees", async () => {
    const holder = await request(30);
    expect(holder.lease.status).toBe("active");
    const waiter = await request(1);
    expect(waiter.status).toBe(202);
    expect(waiter.lease.status).toBe("pending");
    expect(waiter.lease.waitReason).toMatch(/busy/);
    // The first three in one transaction; a worker may have looked again since (the wait backs off from 1 s).
    const stored = (await eventsOf(waiter.lease.id)).slice(0, 3);
    expect(stored.map((e) => e.type)).toEqual(["LeaseRequested", "AllocationAttempted", "LeaseWaiting"]);
    expect(new Set(stored.map((e) => e.transactionId)).size).toBe(1);

    // The wait is a worker's now: the release wakes it, and it lands on the freed slot.
    await release(holder.lease.id);
    await waitUntil(`lease ${waiter.lease.id} active after the release`, async () => (await statusOf(waiter.lease.id)) === "active", 10_000);
    const served = await eventsOf(waiter.lease.id);
    expect(served.slice(-3).map((e) => e.type)).toEqual(["AllocationAttempted", "LeaseAcquired", "LeaseActivated"]);
    expect(new Set(served.slice(-3).map((e) => e.transactionId)).size).toBe(1);
    expect(served.at(-1)!.transactionId).not.toBe(stored[0]!.transactionId);
    await release(waiter.lease.id);
  });

  it("wakes the lease waiting for the slot when the holder releases, long before its next look, even when the holder's teardown fails", async () => {
    const db = api.database.db;
    for (const teardownFails of [false, true]) {
      const holder = await request(30);
      expect(holder.lease.status).toBe("active");
      const waiter = await request(1);
      expect(waiter.lease.status).toBe("pending");
      // Its next look ten minutes away: only the release's wake-up serves it within the wait below.
      const later = new Date(Date.now() + 10 * 60_000);
      await db.updateTable("work_items").set({ run_at: later }).where("stream_id", "=", streamIdOf("lease", waiter.lease.id)).execute();
      await db.updateTable("leases").set({ retry_at: later }).where("lease_id", "=", waiter.lease.id).execute();
      if (teardownFails) {
        await sql`CREATE FUNCTION refuse_destroyed() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF NEW.event_type = 'LeaseDestroyed' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`.execute(db);
        await sql`CREATE TRIGGER refuse_destroyed BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_destroyed()`.execute(db);
      }
      try {
        await release(holder.lease.id);
        await waitUntil(`lease ${waiter.lease.id} served after the release`, async () => (await statusOf(waiter.lease.id)) === "active", 10_000);
      } finally {
        if (teardownFails) {
          await sql`DROP TRIGGER refuse_destroyed ON events`.execute(db);
          await sql`DROP FUNCTION refuse_destroyed()`.execute(db);
        }
      }
      // A failed teardown is left to a worker's retry; the lease it was is released, its slot free.
      expect(await statusOf(holder.lease.id)).toBe(teardownFails ? "released" : "destroyed");
      await release(waiter.lease.id);
      await waitUntil(`lease ${waiter.lease.id} destroyed`, async () => (await statusOf(waiter.lease.id)) === "destroyed", 10_000);
    }
  });

  it("refuses a request with ?wait exactly as without: the checks the capacity read cannot settle fall back to reading every blueprint of the type", async () => {
    const localHost = await api.localHostBlueprintId();
    // A blueprint of a kind this process does not serve (another build's, sharing the database):
    // the capacity view leaves it out, the request's check must still know it.
    process.env.DRYDOCK_TEST_UNREAD_KEY = "not a key, never read";
    const host = { name: "h1", address: "127.0.0.1", port: 9, user: "ci", privateKey: { env: "DRYDOCK_TEST_UNREAD_KEY" }, hostKeyFingerprint: "SHA256:eDPnVD1vKTipcNO1uk8ofkrp108f7uLRrxywzeu2xUA" };
    const other = await api.call("POST", "/v1/blueprints", { name: "elsewhere", kind: "static-hosts", config: { hosts: [host] } });
    expect(other.status, other.text).toBe(201);
    await api.database.db.updateTable("blueprints").set({ kind: "not-served-here" }).where("blueprint_id", "=", other.body.id).execute();
    const issued = await api.call("POST", "/v1/tokens", { owner: "unapproved", role: "client" });
    const cases: { body: Record<string, unknown>; token?: string; status: number }[] = [
      { body: { resourceType: "gpu" }, status: 422 },
      { body: { resourceType: "host", blueprintIds: ["bp_0000000000000000000000"] }, status: 422 },
      { body: { resourceType: "host", blueprintIds: [other.body.id] }, status: 422 },
      { body: { resourceType: "host", blueprintIds: [localHost, other.body.id] }, status: 201 },
      { body: { resourceType: "host", attributes: { os: "plan9" } }, status: 422 },
      { body: { resourceType: "host" }, token: issued.body.token, status: 403 },
    ];
    try {
      for (const { body, token, status } of cases) {
        const caller = api.as(token ?? api.adminToken);
        const waited = await caller.call("POST", "/v1/leases?wait=5", body);
        const queued = await caller.call("POST", "/v1/leases", body);
        expect({ body, status: waited.status }).toEqual({ body, status });
        if (status === 201) {
          expect(queued.status).toBe(202);
          for (const id of [waited.body.id, queued.body.id]) await release(id);
          continue;
        }
        expect(queued.status).toBe(status);
        expect(waited.body).toEqual(queued.body);
      }
    } finally {
      delete process.env.DRYDOCK_TEST_UNREAD_KEY;
      await api.database.db.updateTable("blueprints").set({ kind: "static-hosts" }).where("blueprint_id", "=", other.body.id).execute();
    }
  });
});
