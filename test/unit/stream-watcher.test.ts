import { getEventListeners } from "node:events";
import { describe, expect, it, vi } from "vitest";
import { StreamWatcher } from "../../src/service/stream-watcher";
import { decodeChangeNotice, type ChangeNotice } from "../../src/store/change-notice";
import { waitUntil } from "../support/wait-until";

/** A watcher on a fake change feed: the test sends the notifications itself, as NOTIFY payloads. */
async function watcherWithNotify() {
  let notify: (notice: ChangeNotice) => void = () => {
    throw new Error("not listening");
  };
  const watcher = new StreamWatcher();
  watcher.start({
    subscribe(listener) {
      notify = listener;
      return () => {};
    },
  });
  return { watcher, notify: (payload: string) => notify(decodeChangeNotice(payload)) };
}

describe("StreamWatcher.waitFor", () => {
  it("keeps one abort listener on the signal however often it wakes, and none once it ends", async () => {
    const { watcher, notify } = await watcherWithNotify();
    const abort = new AbortController();
    let checks = 0;
    const listenersSeen = new Set<number>();
    const waiting = watcher.waitFor(
      "lease-ls_a",
      async () => {
        checks++;
        listenersSeen.add(getEventListeners(abort.signal, "abort").length);
        return undefined;
      },
      60_000,
      abort.signal,
    );
    for (let woken = 0; woken < 500; woken++) {
      const before = checks;
      notify("lease-ls_a");
      await waitUntil(`check ${before + 1} to run`, () => checks > before, 5_000, { intervalMs: 0 });
      // Let the loop go back to sleep before the next notification.
      await new Promise((r) => setImmediate(r));
    }
    expect(checks).toBe(501);
    expect(getEventListeners(abort.signal, "abort")).toHaveLength(1);
    expect([...listenersSeen]).toEqual([1]);

    abort.abort();
    expect(await waiting).toBeUndefined();
    expect(getEventListeners(abort.signal, "abort")).toHaveLength(0);
  });

  it("removes its abort listener when the check is satisfied, and its waiter from the stream", async () => {
    const { watcher, notify } = await watcherWithNotify();
    const abort = new AbortController();
    let ready = false;
    const waiting = watcher.waitFor("lease-ls_b", async () => (ready ? "ready" : undefined), 60_000, abort.signal);
    await waitUntil("the first check to run", () => getEventListeners(abort.signal, "abort").length === 1, 5_000);
    ready = true;
    notify("lease-ls_b");
    expect(await waiting).toBe("ready");
    expect(getEventListeners(abort.signal, "abort")).toHaveLength(0);
  });

  it("ends at once when aborted while a check runs, rather than sleeping until its next look", async () => {
    vi.useFakeTimers();
    try {
      const { watcher } = await watcherWithNotify();
      const abort = new AbortController();
      let checks = 0;
      let ended = false;
      const waiting = watcher.waitFor(
        "lease-ls_c",
        async () => {
          checks++;
          abort.abort();
          return undefined;
        },
        60_000,
        abort.signal,
      );
      void waiting.then(() => (ended = true));
      // No timer may fire: the 5 s slow look must not be what ends the wait.
      await vi.advanceTimersByTimeAsync(0);
      expect(ended).toBe(true);
      expect(await waiting).toBeUndefined();
      expect(checks).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
