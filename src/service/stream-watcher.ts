import type { ChangeSource } from "../store/change-feed";

/**
 * Tells waiters when a stream they watch may have changed (each notice names the streams a
 * commit touched: change-feed.ts). One subscription per instance, however many requests wait.
 */
export class StreamWatcher {
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Called on every notification, whatever streams it names (followers of the whole log). */
  private readonly everything = new Set<() => void>();
  private unsubscribe: (() => void) | undefined;

  start(changes: ChangeSource): void {
    this.unsubscribe = changes.subscribe(({ streams }) => {
      for (const w of this.everything) w();
      if (streams === "*") {
        for (const set of this.waiters.values()) for (const w of set) w();
        return;
      }
      for (const streamId of streams) for (const w of this.waiters.get(streamId) ?? []) w();
    });
  }

  /** Calls `listener` after every commit that appended events; returns the unsubscribe. */
  onAnyChange(listener: () => void): () => void {
    this.everything.add(listener);
    return () => this.everything.delete(listener);
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /**
   * Re-evaluates `check` each time the stream changes, until it returns a value or the timeout
   * passes (then undefined). The first check runs at once, so nothing committed before is missed.
   */
  async waitFor<T>(streamId: string, check: () => Promise<T | undefined>, timeoutMs: number, signal?: AbortSignal): Promise<T | undefined> {
    let poke: () => void = () => {};
    const set = this.waiters.get(streamId) ?? new Set();
    this.waiters.set(streamId, set);
    let dirty = true;
    const listener = () => {
      dirty = true;
      poke();
    };
    set.add(listener);
    // One abort listener for the whole wait, removed when it ends: a long wait loops many times
    // (every notification, every slow look), and a listener per loop would pile up on the signal.
    const onAbort = () => poke();
    signal?.addEventListener("abort", onAbort, { once: true });
    const deadline = Date.now() + timeoutMs;
    try {
      while (!signal?.aborted) {
        if (dirty) {
          dirty = false;
          const value = await check();
          if (value !== undefined) return value;
        }
        const left = deadline - Date.now();
        if (left <= 0) return undefined;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 5_000));
          poke = () => {
            clearTimeout(timer);
            resolve();
          };
          // Aborted (or notified) while `check` ran: do not sleep on it.
          if (dirty || signal?.aborted) poke();
        });
        poke = () => {};
        // A slow look every few seconds in case a notification was lost.
        dirty = true;
      }
      return undefined;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      set.delete(listener);
      if (set.size === 0) this.waiters.delete(streamId);
    }
  }
}
