import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChangeNotice } from "../../src/store/change-notice";
import { ChangeFeed } from "../../src/store/change-feed";
import { ChangeNotifier } from "../../src/store/change-notifier";
import { CountingAnnouncer } from "../support/counting-announcer";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";
import { waitUntil } from "../support/wait-until";

/**
 * Two Drydock instances on one database, as two allocators are: each hears its own appends at
 * once, from its notifier, and the other's by NOTIFY; neither hears its own NOTIFY again. With a
 * gathering window, the notices of a few milliseconds share one NOTIFY.
 */
let database: TestDatabase;
/** Notices sent through the database, and the NOTIFY statements among the database's statements. */
const announcer = new CountingAnnouncer(() => database);
const sent = announcer.sent;
const statements: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ onQuery: (text) => text.includes("pg_notify") && statements.push(text) });
});
afterAll(async () => {
  await database?.close();
});

async function instance(origin: string, gatherMs: number) {
  const feed = new ChangeFeed(database, origin);
  const notifier = new ChangeNotifier(announcer, true, { gatherMs, origin, heard: (streams, due) => feed.heard(streams, due) });
  const heard: ChangeNotice[] = [];
  await feed.start();
  feed.subscribe((notice) => heard.push(notice));
  return { feed, notifier, heard, stop: () => feed.stop() };
}

const streamsOf = (notices: ChangeNotice[]) => notices.flatMap((n) => (n.streams === "*" ? ["*"] : n.streams));

describe(`change feed (${testDialect})`, () => {
  it("an instance hears its own appends before any NOTIFY, and the other instance hears them once by NOTIFY", async () => {
    sent.length = 0;
    const a = await instance("inst-a", 20);
    const b = await instance("inst-b", 20);
    // Three appends of one lease cycle, handed over within the gathering window.
    void a.notifier.notify(["lease-ls_1"], null);
    void a.notifier.notify(["lease-ls_1", "resource-rs_1"], null);
    void a.notifier.notify(["lease-ls_1"], 1234);
    expect(streamsOf(a.heard)).toEqual(["lease-ls_1", "lease-ls_1", "resource-rs_1", "lease-ls_1"]);
    expect(a.heard[2]!.workDueAt).toBe(1234);
    expect(sent).toHaveLength(0);
    expect(b.heard).toHaveLength(0);

    await a.notifier.flush();
    expect(sent).toHaveLength(1);
    const [other] = await waitUntil("instance b to hear the NOTIFY", () => (b.heard.length > 0 ? b.heard : undefined), 5_000);
    expect(other).toEqual({ streams: ["lease-ls_1", "resource-rs_1"], workDueAt: 1234, origin: "inst-a" });

    // b's own append, for a sign that a's LISTEN has been delivered everything sent before it.
    void b.notifier.notify(["lease-ls_2"], null);
    await b.notifier.flush();
    await waitUntil("instance a to hear b's append", () => streamsOf(a.heard).includes("lease-ls_2"), 5_000);
    expect(streamsOf(a.heard)).toEqual(["lease-ls_1", "lease-ls_1", "resource-rs_1", "lease-ls_1", "lease-ls_2"]);
    expect(streamsOf(b.heard)).toEqual(["lease-ls_1", "resource-rs_1", "lease-ls_2"]);
    await a.stop();
    await b.stop();
  });

  it("shares one LISTEN between its listeners, and lets it go when it stops", async () => {
    let listens = 0;
    let unlistens = 0;
    const counting = {
      listen: async (channel: string, onNotify: (payload: string) => void) => {
        listens++;
        const stop = await database.listen(channel, onNotify);
        return async () => {
          unlistens++;
          await stop();
        };
      },
    };
    const feed = new ChangeFeed(counting, "inst-c");
    const first: ChangeNotice[] = [];
    const second: ChangeNotice[] = [];
    await feed.start();
    const stopFirst = feed.subscribe((n) => first.push(n));
    feed.subscribe((n) => second.push(n));
    expect(listens).toBe(1);
    const other = new ChangeNotifier(announcer, true, { origin: "inst-d" });
    void other.notify(["lease-ls_3"], null);
    await other.flush();
    await waitUntil("both listeners to hear it", () => first.length === 1 && second.length === 1, 5_000);
    expect(first[0]).toEqual({ streams: ["lease-ls_3"], workDueAt: null, origin: "inst-d" });
    stopFirst();
    feed.heard(["lease-ls_4"], null);
    expect(streamsOf(first)).toEqual(["lease-ls_3"]);
    expect(streamsOf(second)).toEqual(["lease-ls_3", "lease-ls_4"]);
    expect(unlistens).toBe(0);
    await feed.stop();
    expect(unlistens).toBe(1);
  });

  it(testDialect === "pglite" ? "on PGlite, a notice reaches the other instance in memory, with no statement" : "on PostgreSQL, a notice reaches the other instance by one NOTIFY statement", async () => {
    sent.length = 0;
    statements.length = 0;
    const a = await instance("inst-f", 0);
    const b = await instance("inst-g", 0);
    void a.notifier.notify(["lease-ls_5"], 42);
    await a.notifier.flush();
    const [notice] = await waitUntil("instance g to hear f's append", () => (b.heard.length > 0 ? b.heard : undefined), 5_000);
    expect(notice).toEqual({ streams: ["lease-ls_5"], workDueAt: 42, origin: "inst-f" });
    expect(sent).toHaveLength(1);
    // PGlite's data directory is this process's alone: nobody outside it could hear a NOTIFY.
    expect(statements).toHaveLength(testDialect === "pglite" ? 0 : 1);
    await a.stop();
    await b.stop();
  });

  it("a listener that throws does not keep the others from hearing a notice", async () => {
    const heard: string[] = [];
    const stopThrowing = await database.listen("drydock_test_throwing", () => {
      throw new Error("a listener's own failure");
    });
    const stopHearing = await database.listen("drydock_test_throwing", (payload) => heard.push(payload));
    await database.notify("drydock_test_throwing", "first");
    await database.notify("drydock_test_throwing", "second");
    await waitUntil("both notices heard", () => heard.length === 2, 5_000);
    expect(heard).toEqual(["first", "second"]);
    await stopThrowing();
    await stopHearing();
  });

  it("without a gathering window, a NOTIFY goes at once", async () => {
    sent.length = 0;
    const notifier = new ChangeNotifier(announcer, true, { origin: "inst-e" });
    void notifier.notify(["lease-ls_4"], null);
    // The send started synchronously: its statement is on its way before any timer could fire.
    await new Promise((r) => setImmediate(r));
    await notifier.flush();
    expect(sent).toHaveLength(1);
  });
});
