import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventMetadata, NewEvent, RecordedEvent } from "../../events/envelope";
import { ManualClock } from "../../src/domain/clock";
import { LOG_START, PostgresEventStore, type LogCheckpoint, type ReadAllOptions } from "../../src/store/event-store";
import type { InlineProjection } from "../../src/store/projection";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";

/**
 * Filters on the global log (type, stream, actor, since, until) keep the commit-safe reading
 * rule, and the checkpoint moves past rows that did not match, so a filtered reader pages to the
 * end and polls without rescanning. Readers poll: xids are cluster-wide on PostgreSQL, so another
 * test file's transaction may hold the horizon back for a moment.
 */
const clock = new ManualClock(new Date("2026-02-01T10:00:00.000Z"));
let database: TestDatabase;
let store: PostgresEventStore;

beforeAll(async () => {
  database = await createTestDatabase({ poolSize: 20 });
  store = new PostgresEventStore(database.db, [], clock);
});
afterAll(() => database?.close());

const as = (actor: string): EventMetadata => ({ actor });
const newStream = (label: string) => `blueprint-bp_${label}${randomUUID().replaceAll("-", "").slice(0, 10)}`;
const created = (streamId: string): NewEvent => ({
  type: "BlueprintCreated",
  data: { blueprintId: streamId.slice("blueprint-".length), name: "pool", kind: "memory-pool", resourceType: "sandbox", config: {}, resourceLimit: 2 },
});
const renamed = (name: string): NewEvent => ({ type: "BlueprintUpdated", data: { name } });
const disabled: NewEvent = { type: "BlueprintDisabled", data: { reason: "maintenance" } };

async function countEvents(): Promise<number> {
  return Number((await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(database.db)).rows[0]!.n);
}

/** Reads with a filter until `count` events came (failing after 15 s); returns them and where it stopped. */
async function drain(from: LogCheckpoint, count: number, options: ReadAllOptions) {
  const events: RecordedEvent[] = [];
  let checkpoint = from;
  let pages = 0;
  for (const deadline = Date.now() + 15_000; events.length < count && Date.now() < deadline; ) {
    const page = await store.readAll(checkpoint, options);
    pages++;
    events.push(...page.events);
    checkpoint = page.checkpoint;
    if (page.events.length === 0) await new Promise((r) => setTimeout(r, 20));
  }
  if (events.length < count) throw new Error(`timed out after 15000 ms waiting for ${count} matching events; read ${events.length}`);
  return { events, checkpoint, pages };
}

/** The checkpoint once every committed event has been scanned. */
async function caughtUp(): Promise<LogCheckpoint> {
  return (await drain(LOG_START, await countEvents(), { limit: 1000 })).checkpoint;
}

describe(`filters on the global log (${testDialect})`, () => {
  it("narrow by type, stream, actor and time, each and together", async () => {
    const start = await caughtUp();
    const [a, b] = [newStream("a"), newStream("b")];
    clock.set(new Date("2026-02-01T10:00:00.000Z"));
    await store.append(a, 0, [created(a)], as("alice"));
    clock.set(new Date("2026-02-01T11:00:00.000Z"));
    await store.append(b, 0, [created(b), renamed("b2")], as("bob"));
    clock.set(new Date("2026-02-01T12:00:00.000Z"));
    await store.append(a, 1, [renamed("a2"), disabled], as("alice"));

    const read = async (options: ReadAllOptions, expected: number) => (await drain(start, expected, { limit: 100, ...options })).events.map((e) => `${e.streamId === a ? "a" : "b"}:${e.type}`);
    expect(await read({ types: ["BlueprintUpdated"] }, 2)).toEqual(["b:BlueprintUpdated", "a:BlueprintUpdated"]);
    expect(await read({ streamIds: [a] }, 3)).toEqual(["a:BlueprintCreated", "a:BlueprintUpdated", "a:BlueprintDisabled"]);
    expect(await read({ streamIds: [a, b], actor: "bob" }, 2)).toEqual(["b:BlueprintCreated", "b:BlueprintUpdated"]);
    const window = { since: new Date("2026-02-01T11:00:00.000Z"), until: new Date("2026-02-01T12:00:00.000Z") };
    expect(await read({ ...window, streamIds: [a, b] }, 2)).toEqual(["b:BlueprintCreated", "b:BlueprintUpdated"]);
    expect(await read({ since: new Date("2026-02-01T12:00:00.000Z"), streamIds: [a, b], types: ["BlueprintDisabled"] }, 1)).toEqual(["a:BlueprintDisabled"]);
  });

  it("move the checkpoint past rows that did not match, so paging ends and polls do not rescan", async () => {
    const start = await caughtUp();
    const s = newStream("many");
    await store.append(s, 0, [created(s), ...Array.from({ length: 30 }, (_, i) => renamed(`n${i}`))], as("carol"));
    const rare = { types: ["BlueprintDisabled"], limit: 5 };

    // Nothing matches: once the 31 rows are readable the checkpoint moves past all of them.
    const none = await drain(start, 0, rare);
    expect(none.events).toEqual([]);
    let checkpoint = start;
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      checkpoint = (await store.readAll(checkpoint, rare)).checkpoint;
      if (checkpoint.position >= (await store.readStream(s)).at(-1)!.globalPosition) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const last = (await store.readStream(s)).at(-1)!;
    expect(checkpoint).toEqual({ transactionId: last.transactionId, position: last.globalPosition });

    // A later match is found from there, and a full page stops at its last event, not beyond.
    await store.append(s, 31, [disabled], as("carol"));
    const found = await drain(checkpoint, 1, rare);
    expect(found.events.map((e) => e.type)).toEqual(["BlueprintDisabled"]);
    const t = newStream("page");
    await store.append(t, 0, [created(t), renamed("x"), renamed("y"), renamed("z")], as("dave"));
    const page = await drain(found.checkpoint, 2, { streamIds: [t], limit: 2 });
    expect(page.events.map((e) => e.streamVersion)).toEqual([1, 2]);
    expect(page.checkpoint).toEqual({ transactionId: page.events[1]!.transactionId, position: page.events[1]!.globalPosition });
    const rest = await drain(page.checkpoint, 2, { streamIds: [t], limit: 2 });
    expect(rest.events.map((e) => e.streamVersion)).toEqual([3, 4]);
  });

  it("a filtered reader sees every matching event exactly once while writers commit out of order", async () => {
    const start = await caughtUp();
    // Sleeps in the append transaction after the events drew positions: commits land out of order.
    const slow: InlineProjection = { name: "slow", apply: async (db) => void (await sql`SELECT pg_sleep(${Math.random() * 0.02})`.execute(db)) };
    const writer = new PostgresEventStore(database.db, [slow], clock);
    const streams = Array.from({ length: 20 }, (_, i) => newStream(`w${i}`));
    const writing = Promise.all(
      streams.map(async (s, i) => {
        for (let v = 0; v < 4; v++) await writer.append(s, v, [v === 0 ? created(s) : renamed(`v${v}`)], as(i % 2 === 0 ? "even" : "odd"));
      }),
    );
    const seen: RecordedEvent[] = [];
    let checkpoint = start;
    let done = false;
    writing.then(() => (done = true), () => (done = true));
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      const page = await store.readAll(checkpoint, { actor: "even", types: ["BlueprintUpdated"], limit: 3 });
      seen.push(...page.events);
      checkpoint = page.checkpoint;
      if (done && seen.length >= 30) break;
      if (page.events.length === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await writing;
    const expected = (await Promise.all(streams.filter((_, i) => i % 2 === 0).map((s) => store.readStream(s)))).flat().filter((e) => e.type === "BlueprintUpdated");
    expect(expected).toHaveLength(30);
    const ids = seen.map((e) => e.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(expected.map((e) => e.eventId).sort());
  });
});
