import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeChangeNotice, type ChangeNotice } from "../../src/store/change-notice";
import { ChangeNotifier, EVENTS_CHANNEL } from "../../src/store/change-notifier";
import { CountingAnnouncer } from "../support/counting-announcer";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";
import { waitUntil } from "../support/wait-until";

/**
 * The NOTIFY that announces appends, as listeners (workers, waiting requests) receive it: every
 * stream handed over reaches them, with the earliest due time, and notices handed over while one
 * is on its way go out together in the next, so a burst of appends costs a few NOTIFYs.
 */
let database: TestDatabase;
let stop: () => Promise<void>;
const received: ChangeNotice[] = [];
/** Notices sent through the database. */
const announcer = new CountingAnnouncer(() => database);
const sent = announcer.sent;

beforeAll(async () => {
  database = await createTestDatabase();
  stop = await database.listen(EVENTS_CHANNEL, (payload) => received.push(decodeChangeNotice(payload)));
});

afterAll(async () => {
  await stop?.();
  await database?.close();
});

function reset(): void {
  received.length = 0;
  sent.length = 0;
}

describe(`change notices (${testDialect})`, () => {
  it("in the background: a burst of notices reaches listeners whole, in fewer NOTIFYs, and flush waits for the last", async () => {
    reset();
    const notifier = new ChangeNotifier(announcer, true);
    const streams = Array.from({ length: 40 }, (_, i) => `lease-burst${i}`);
    // Handed over in one go, as concurrent appends would: none of these waits for a round trip.
    for (const [i, s] of streams.entries()) void notifier.notify([s], i === 7 ? 5_000 : i % 2 === 0 ? null : 9_000 + i);
    await notifier.flush();
    await waitUntil("every stream announced", () => new Set(received.flatMap((n) => (n.streams === "*" ? [] : n.streams))).size === streams.length, 5_000);
    expect(sent.length).toBeLessThan(streams.length / 4);
    expect(received).toHaveLength(sent.length);
    expect(new Set(received.flatMap((n) => n.streams as string[]))).toEqual(new Set(streams));
    // The earliest due time of all the notices a NOTIFY carries: 5000 went out first or with the ones it was merged with.
    expect(Math.min(...received.map((n) => n.workDueAt ?? Infinity))).toBe(5_000);
  });

  it("a notice with no work keeps saying so; merged with one that has work, it carries that work's time", async () => {
    reset();
    const notifier = new ChangeNotifier(announcer, true);
    // The first goes out at once; the next two wait for it and go out together.
    void notifier.notify(["lease-a"], null);
    void notifier.notify(["lease-b"], null);
    void notifier.notify(["lease-c"], 42);
    await notifier.flush();
    expect(sent).toHaveLength(2);
    await waitUntil("two NOTIFYs received", () => received.length === 2, 5_000);
    expect(received).toEqual([
      { streams: ["lease-a"], workDueAt: null },
      { streams: ["lease-b", "lease-c"], workDueAt: 42 },
    ]);
  });

  it("not in the background, an append waits until its notice is sent", async () => {
    reset();
    const notifier = new ChangeNotifier(announcer);
    await notifier.notify(["lease-cli"], null);
    expect(sent).toHaveLength(1);
    await waitUntil("the notice received", () => received.length === 1, 5_000);
    expect(received[0]).toEqual({ streams: ["lease-cli"], workDueAt: null });
  });

  it("a follow-up (an append's wake-ups) runs without the append waiting for it in the background, and flush waits for it; otherwise the append waits", async () => {
    let finish!: () => void;
    const done: string[] = [];
    const background = new ChangeNotifier(announcer, true);
    const handed = background.followUp(async () => {
      await new Promise<void>((resolve) => (finish = resolve));
      done.push("background");
    });
    // Handed over: the append goes on while the follow-up still waits.
    await handed;
    expect(done).toEqual([]);
    let flushed = false;
    const flushing = background.flush().then(() => (flushed = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(flushed).toBe(false);
    finish();
    await flushing;
    expect(done).toEqual(["background"]);
    // A failing follow-up is dropped, as a lost notice is: the append that handed it over does not fail.
    await background.followUp(async () => {
      throw new Error("a wake-up that failed");
    });
    await background.flush();

    const waiting = new ChangeNotifier(announcer);
    await waiting.followUp(async () => {
      await new Promise((r) => setTimeout(r, 10));
      done.push("waited");
    });
    expect(done).toEqual(["background", "waited"]);
  });
});
