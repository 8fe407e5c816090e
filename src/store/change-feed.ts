import { decodeChangeNotice, type ChangeNotice } from "./change-notice";
import { EVENTS_CHANNEL } from "./change-notifier";
import type { Database } from "./database";

/** Where a worker or a watcher hears of committed appends: each notice, as it comes. */
export interface ChangeSource {
  /** Calls `listener` with every notice from now on; returns the unsubscribe. */
  subscribe(listener: (notice: ChangeNotice) => void): () => void;
}

/**
 * What one Drydock instance hears of the log's appends: its own at once, handed over by its
 * notifier after each commit (`heard`), and every other instance's by NOTIFY, on one LISTEN that
 * its worker and its watchers share. The NOTIFYs it sent itself carry its origin and are dropped
 * here: it heard those appends already, without waiting for a round trip through the database.
 */
export class ChangeFeed implements ChangeSource {
  private readonly listeners = new Set<(notice: ChangeNotice) => void>();
  private unlisten: (() => Promise<void>) | null = null;

  constructor(
    private readonly database: Pick<Database, "listen">,
    readonly origin: string,
  ) {}

  /** Starts hearing the other instances' appends. */
  async start(): Promise<void> {
    this.unlisten ??= await this.database.listen(EVENTS_CHANNEL, (payload) => {
      const notice = decodeChangeNotice(payload);
      if (notice.origin !== this.origin) this.deliver(notice);
    });
  }

  async stop(): Promise<void> {
    const unlisten = this.unlisten;
    this.unlisten = null;
    await unlisten?.();
  }

  subscribe(listener: (notice: ChangeNotice) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** This instance's own committed append: its listeners hear it now. */
  heard(streams: readonly string[], workDueAt: number | null): void {
    this.deliver({ streams, workDueAt });
  }

  private deliver(notice: ChangeNotice): void {
    for (const listener of this.listeners) {
      try {
        listener(notice);
      } catch {
        // A listener's failure is its own: the others still hear the notice.
      }
    }
  }
}
