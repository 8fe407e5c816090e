import { decodeChangeNotice, encodeChangeNotice } from "./change-notice";
import { EVENTS_CHANNEL } from "./change-notifier";
import type { Database } from "./database";

/**
 * What one Drydock instance hears of the log's appends: its own at once, handed over by its
 * notifier after each commit (`heard`), and every other instance's by NOTIFY, on one LISTEN that
 * its worker and its watchers share. The NOTIFYs it sent itself carry its origin and are dropped
 * here: it heard those appends already, without waiting for a round trip through the database.
 *
 * It has the database's `listen` shape, so the worker and the watchers take it in the database's
 * place; channels other than the events channel go to the database as before.
 */
export class ChangeFeed implements Pick<Database, "listen"> {
  private readonly listeners = new Set<(payload: string) => void>();
  private listening: Promise<() => Promise<void>> | null = null;

  constructor(
    private readonly database: Pick<Database, "listen">,
    readonly origin: string,
  ) {}

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    if (channel !== EVENTS_CHANNEL) return this.database.listen(channel, onNotify);
    this.listeners.add(onNotify);
    try {
      await (this.listening ??= this.database.listen(EVENTS_CHANNEL, (payload) => {
        if (decodeChangeNotice(payload).origin !== this.origin) this.deliver(payload);
      }));
    } catch (error) {
      this.listeners.delete(onNotify);
      this.listening = null;
      throw error;
    }
    return async () => {
      this.listeners.delete(onNotify);
      if (this.listeners.size > 0 || this.listening === null) return;
      const listening = this.listening;
      this.listening = null;
      await (await listening)();
    };
  }

  /** This instance's own committed append: its listeners hear it now. */
  heard(streams: readonly string[], workDueAt: number | null): void {
    if (this.listeners.size > 0) this.deliver(encodeChangeNotice(streams, workDueAt));
  }

  private deliver(payload: string): void {
    for (const listener of this.listeners) {
      try {
        listener(payload);
      } catch {
        // A listener's failure is its own: the others still hear the notice.
      }
    }
  }
}
