import { existsSync } from "node:fs";
import { sql } from "kysely";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { EventStore } from "../../src/store/event-store";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { startApi, type ApiHarness } from "../e2e/api-harness";

/**
 * A waiting lease can be decided on by two runs at once: a worker's wait gives up the lease's
 * claim, and its look again (allocate-lease.ts) races the run a release woke. On the local host
 * both would activate inline, making the same directories (a lease's are named by its id); the
 * run whose append lost would then remove them as its undo, under the run that won, and the
 * client would get an active lease with no directory: its first command answered 404 "no such
 * file: .". Found by 8 clients cycling over 7 free slots (about one lease in twenty).
 *
 * The worker is off: the test runs the steps, and starts the second run at the worst moments:
 * when the first has made the lease's directories and is about to store their activation; when
 * the first has decided and is about to make them, the second then acquiring and activating the
 * lease before it; and when the first, its directories made, loses its slot to another allocator
 * and undoes them while the second is on its way to storing its own acquisition. The last case
 * runs the second run in another service (`otherProcess`: on the same database and local host's
 * root, with its own activation holds), as a second `drydock serve` on the machine would.
 */
let api: ApiHarness;
let otherProcess: Drydock;
const errors: unknown[] = [];

beforeAll(async () => {
  // Each decision takes the first free slot here and the second free one in the other service,
  // as two allocators' random picks may (a lost race is then the test's doing, not theirs).
  api = await startApi({}, { localHost: { slots: 2 }, worker: false, random: () => 0, onWorkerError: (e) => errors.push(e) });
  otherProcess = await createDrydock({ database: api.database, localHost: { root: api.root, slots: 2 }, worker: false, random: () => 1.5e-6, onWorkerError: (e) => errors.push(e) });
});

afterAll(async () => {
  await otherProcess?.close();
  await api?.close();
});

const ask = async () => (await api.call("POST", "/v1/leases?wait=1", { resourceType: "host" })).body as { id: string; status: string };
const leaseOf = async (id: string) => (await api.call("GET", `/v1/leases/${id}`)).body as { status: string };
const release = async (id: string) => expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);

/**
 * A lease waiting behind two holders of the host's two slots, and the first run of its step: it
 * waits, and once its wait is stored (its claim given up) the holders release, which wakes the
 * lease; that run's look again then finds the slots free and decides on it. `arrange` hooks
 * `secondRun` into the first run at the moment the test chooses.
 */
async function twoRuns(arrange: (lease: string, secondRun: () => Promise<void>, waited: () => boolean) => () => void, second: Drydock = api.drydock): Promise<string> {
  const holders = [(await ask()).id, (await ask()).id];
  for (const id of holders) await api.runDueWorkUntil(id, "active");
  const lease = (await ask()).id;
  expect((await leaseOf(lease)).status).toBe("pending");
  const stream = `lease-${lease}`;
  const store = api.drydock.store as EventStore;
  let waited = false;
  let secondRuns = 0;
  // Each run takes one of the two slots: a run does not take the slot another run of this
  // process is taking (slots-in-flight.ts).
  const secondRun = async () => {
    secondRuns++;
    expect(await second.worker.runNow(stream)).toBe(true);
    expect((await leaseOf(lease)).status).not.toBe("pending");
  };
  const restore = arrange(lease, secondRun, () => waited);
  const append = store.append.bind(store);
  store.append = async (streamId, version, events, metadata, options) => {
    const stored = await append(streamId, version, events, metadata, options);
    if (streamId === stream && !waited && events.some((e) => e.type === "LeaseWaiting")) {
      waited = true;
      for (const id of holders) await release(id);
      await api.drydock.notifier.flush();
    }
    return stored;
  };
  try {
    await sql`UPDATE work_items SET run_at = now() - interval '1 second' WHERE stream_id = ${stream}`.execute(api.drydock.database.db);
    expect(await api.drydock.worker.runNow(stream)).toBe(true);
  } finally {
    store.append = append;
    restore();
  }
  expect(waited).toBe(true);
  expect(secondRuns).toBe(1);
  expect(errors).toEqual([]);
  return lease;
}

/** The lease ends up active once, with its directory there, usable, and removed at its end. */
async function expectUsableThenGone(lease: string): Promise<void> {
  await api.runDueWorkUntil(lease, "active");
  const events = (await api.call("GET", `/v1/leases/${lease}/events`)).body.items as { type: string; data: { workingDirectory?: string } }[];
  expect(events.filter((e) => e.type === "LeaseAcquired")).toHaveLength(1);
  const dir = events.find((e) => e.type === "LeaseActivated")!.data.workingDirectory!;
  expect(existsSync(dir)).toBe(true);
  // What the client does first: run a command in it.
  const ran = await api.call("POST", `/v1/leases/${lease}/commands`, { argv: ["pwd"] });
  expect(ran.status, ran.text).toBe(200);
  expect(ran.body.stdout).toBe(`${dir}\n`);

  await release(lease);
  await api.runDueWork();
  expect((await leaseOf(lease)).status).toBe("destroyed");
  expect(existsSync(dir)).toBe(false);
  const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
  expect(report.violations).toEqual([]);
}

it("a second run while the first stores its activation: the lease is active with its directory", async () => {
  const lease = await twoRuns((lease, secondRun) => {
    // The first run has made the directories and not stored them yet: the second, woken by the
    // release, takes the lease on and stores its acquisition first.
    const store = api.drydock.store as EventStore;
    const append = store.append.bind(store);
    let raced = false;
    store.append = async (streamId, version, events, metadata, options) => {
      if (streamId === `lease-${lease}` && !raced && events.some((e) => e.type === "LeaseActivated")) {
        raced = true;
        await secondRun();
      }
      return append(streamId, version, events, metadata, options);
    };
    return () => (store.append = append);
  });
  await expectUsableThenGone(lease);
});

it("a second run that acquires and activates the lease before the first makes its directories leaves them to it", async () => {
  const lease = await twoRuns((lease, secondRun, waited) => {
    // The first run's look again has read the lease (waiting) and is about to decide on it: the
    // second acquires and activates it whole first. The first then decides on what it read, makes
    // what is there already, and its append loses on the lease's version.
    const store = api.drydock.store as EventStore;
    const loadState = store.loadState.bind(store);
    let raced = false;
    store.loadState = async (streamId, options) => {
      const state = await loadState(streamId, options);
      if (streamId === `lease-${lease}` && waited() && !raced) {
        raced = true;
        await secondRun();
        expect((await leaseOf(lease)).status).toBe("active");
      }
      return state;
    };
    return () => (store.loadState = loadState);
  });
  await expectUsableThenGone(lease);
});

/**
 * The first run has made the directories and is about to store them. The second starts and gets
 * as far as its own append; then another allocator takes the first run's slot, so the first
 * run's append fails, and it undoes what it made while the lease is still pending. The second
 * run's append is let through after that. `stores`: the stores the two runs append through.
 * `secondSlot`: the other allocator takes the second run's slot too while the first loses, and
 * gives it back before the second run's append, so the first run's next decision (it waits) makes
 * nothing again: whatever directories the second run's commit rests on are the ones it made itself.
 */
function loseSlotWhileSecondAppends(lease: string, secondRun: () => Promise<void>, stores: EventStore[], secondSlot?: string): () => void {
  const db = api.drydock.database.db;
  const stream = `lease-${lease}`;
  let phase: "before" | "racing" | "after" = "before";
  let openGate = () => {};
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  let atAppend = () => {};
  const secondAtAppend = new Promise<void>((resolve) => (atAppend = resolve));
  let second: Promise<void> = Promise.resolve();
  const restores = stores.map((store) => {
    const append = store.append.bind(store);
    store.append = async (streamId, version, events, metadata, options) => {
      if (streamId !== stream) return append(streamId, version, events, metadata, options);
      if (phase === "before" && events.some((e) => e.type === "LeaseActivated")) {
        phase = "racing";
        second = secondRun();
        await secondAtAppend;
        const acquired = events.find((e) => e.type === "LeaseAcquired")!.data as { resourceId: string; locks: string[] };
        for (const key of [acquired.locks[0]!, ...(secondSlot ? [secondSlot] : [])]) {
          await db.insertInto("slot_locks").values({ lock_key: key, owner_stream_id: "lease-another-allocator", scope_id: acquired.resourceId }).execute();
        }
        phase = "after";
        return append(streamId, version, events, metadata, options);
      }
      if (phase === "racing") {
        // The second run's append waits until the first has lost and undone.
        atAppend();
        await gate;
        return append(streamId, version, events, metadata, options);
      }
      if (phase === "after") {
        // The first run's next append (it decided again after losing): the second goes first.
        if (secondSlot) await db.deleteFrom("slot_locks").where("lock_key", "=", secondSlot).execute();
        openGate();
        await second;
      }
      return append(streamId, version, events, metadata, options);
    };
    return () => (store.append = append);
  });
  return () => {
    openGate();
    for (const restore of restores) restore();
  };
}

it("a second run while the first loses its slot and undoes its activation: the second activates after the undo", async () => {
  // In one process the second run acquires only (the first run holds the lease), and the
  // activate step makes the directories.
  const lease = await twoRuns((lease, secondRun) => loseSlotWhileSecondAppends(lease, secondRun, [api.drydock.store as EventStore]));
  // The other allocator's lock goes, as its lease would end: the log's check below knows no such lease.
  await api.database.db.deleteFrom("slot_locks").where("owner_stream_id", "=", "lease-another-allocator").execute();
  await expectUsableThenGone(lease);
});

it("the same race with the second run in another service on the same host: its activation keeps its directories", async () => {
  // No hold of the first run's reaches the other service, so the second run activates inline
  // too; the first run's undo must leave a stored lease's directories, which the other's commit
  // then rests on.
  const stores = [api.drydock.store as EventStore, otherProcess.store as EventStore];
  const resource = await api.database.db.selectFrom("resources").select("resource_id").where("status", "=", "active").executeTakeFirstOrThrow();
  const secondSlot = `resource:${resource.resource_id}:slot:1`;
  const lease = await twoRuns((lease, secondRun) => loseSlotWhileSecondAppends(lease, secondRun, stores, secondSlot), otherProcess);
  // The other service's run stored the acquisition and the activation, on the slot it was given back.
  const events = (await api.call("GET", `/v1/leases/${lease}/events`)).body.items as { type: string; data: { slot?: number }; metadata: { actor: string } }[];
  const acquired = events.filter((e) => e.type === "LeaseAcquired");
  expect(acquired.map((e) => e.data.slot)).toEqual([1]);
  expect(events.find((e) => e.type === "LeaseActivated")?.metadata.actor).toBe(acquired[0]!.metadata.actor);
  await api.database.db.deleteFrom("slot_locks").where("owner_stream_id", "=", "lease-another-allocator").execute();
  await expectUsableThenGone(lease);
});

it("a waiting lease whose inline activation lost keeps its directories; the leftover sweep removes them once it ends unserved", async () => {
  const holders = [(await ask()).id, (await ask()).id];
  for (const id of holders) await api.runDueWorkUntil(id, "active");
  const lease = (await ask()).id;
  expect((await leaseOf(lease)).status).toBe("pending");
  for (const id of holders) await release(id);
  // The lease is stored, waiting. Its run decides on a freed slot and makes its directories;
  // before it stores them, another allocator takes both slots, and keeps them.
  const store = api.drydock.store as EventStore;
  const append = store.append.bind(store);
  let dir: string | null = null;
  store.append = async (streamId, version, events, metadata, options) => {
    const activated = events.find((e) => e.type === "LeaseActivated");
    if (streamId === `lease-${lease}` && activated && dir === null) {
      dir = (activated.data as { workingDirectory: string }).workingDirectory;
      const resourceId = (events.find((e) => e.type === "LeaseAcquired")!.data as { resourceId: string }).resourceId;
      for (const slot of [0, 1]) {
        await api.database.db.insertInto("slot_locks").values({ lock_key: `resource:${resourceId}:slot:${slot}`, owner_stream_id: "lease-another-allocator", scope_id: resourceId }).execute();
      }
    }
    return append(streamId, version, events, metadata, options);
  };
  try {
    await sql`UPDATE work_items SET run_at = now() - interval '1 second' WHERE stream_id = ${`lease-${lease}`}`.execute(api.drydock.database.db);
    expect(await api.drydock.worker.runNow(`lease-${lease}`)).toBe(true);
  } finally {
    store.append = append;
  }
  expect(dir).not.toBeNull();
  // Lost, it waits again; what it made stays (another service's run may be storing the same).
  expect((await leaseOf(lease)).status).toBe("pending");
  expect(existsSync(dir!)).toBe(true);

  // Its client gives up: the lease ends without having been acquired, so no teardown removes them.
  await release(lease);
  await api.runDueWork();
  expect((await leaseOf(lease)).status).toBe("destroyed");
  expect(existsSync(dir!)).toBe(true);
  // The sweep, in a service whose clock is past the grace period, removes them.
  const later = await createDrydock({ database: api.database, localHost: { root: api.root, slots: 2 }, worker: false, leaseLeftovers: false, clock: { now: () => new Date(Date.now() + 3_600_000) } });
  try {
    const report = await later.leaseLeftovers.pass();
    expect(report.removed.map((r) => r.leaseId)).toEqual([lease]);
  } finally {
    await later.close();
  }
  expect(existsSync(dir!)).toBe(false);
  await api.database.db.deleteFrom("slot_locks").where("owner_stream_id", "=", "lease-another-allocator").execute();
  expect(errors).toEqual([]);
});
