import { sql, type Kysely } from "kysely";
import { encodeChangeNotice } from "./change-notice";
import type { Database } from "./database";
import type { DrydockDatabase } from "./schema";

/** The channel every committed append is announced on (change-notice.ts gives the payload). */
export const EVENTS_CHANNEL = "drydock_events";

/** Where a notice is sent: the database's own notify() (database.ts), or a NOTIFY statement (sqlAnnouncer). */
export type Announcer = Pick<Database, "notify">;

/** Announces by `SELECT pg_notify(...)` on `db`: a store given no database, only its Kysely. */
export function sqlAnnouncer(db: Kysely<DrydockDatabase>): Announcer {
  return {
    async notify(channel, payload) {
      await sql`SELECT pg_notify(${channel}, ${payload})`.execute(db);
    },
  };
}

export interface ChangeNotifierOptions {
  /**
   * In the background, how long a NOTIFY waits for more notices to go out with it (ms; default 0:
   * it goes at once). Only other processes wait on it when this process hears its own appends
   * directly (`heard`): a lease cycle's appends (request, release, teardown) then share one NOTIFY.
   */
  gatherMs?: number;
  /** Names this Drydock instance in the notices it sends, so that its own feed drops them (change-feed.ts). */
  origin?: string;
  /** Called at once with each notice handed over: this process hears its appends before the NOTIFY goes. */
  heard?: (streams: readonly string[], workDueAt: number | null) => void;
}

/**
 * Sends the NOTIFY that announces committed appends, one at a time, merging the notices that
 * come in while one is on its way into the next: their streams joined, and the earliest time
 * their work falls due (change-notice.ts). Notices are hints that something changed, never the
 * change itself: a watcher or worker that wakes reads the state, so one notice for several
 * appends wakes each listener as the separate notices would have, and their order does not
 * matter. Under load, many appends then cost a few NOTIFYs rather than one each.
 *
 * `background`: an append hands its notice over and returns without waiting for the NOTIFY's
 * round trip (the service, where that is the answer's latency); `flush()` waits for every
 * notice handed over, and the service flushes before it closes its database. Otherwise the
 * append waits for its notice to be sent, as a short-lived command (the CLI) needs.
 *
 * The wake-ups an append's projections send after its commit (work-projection.ts: the oldest
 * leases waiting for the slot a release freed, a pool to refill) are hints of the same kind, and
 * go the same way (`followUp`): in the background, the answer does not wait for their reads and
 * updates; `flush()` waits for them too.
 */
export class ChangeNotifier {
  private streams = new Set<string>();
  private workDueAt: number | null = null;
  private queued = false;
  private sending: Promise<void> | null = null;
  /** Follow-ups running in the background (followUp), until each settles. */
  private readonly following = new Set<Promise<void>>();

  constructor(
    private readonly announcer: Announcer,
    readonly background = false,
    private readonly options: ChangeNotifierOptions = {},
  ) {}

  /** Hands over the notice of a committed append: its streams, and when work it scheduled falls due (null: none). */
  notify(streams: readonly string[], workDueAt: number | null): Promise<void> {
    this.options.heard?.(streams, workDueAt);
    for (const s of streams) this.streams.add(s);
    if (workDueAt !== null) this.workDueAt = this.workDueAt === null ? workDueAt : Math.min(this.workDueAt, workDueAt);
    this.queued = true;
    this.sending ??= this.send();
    return this.background ? Promise.resolve() : this.flush();
  }

  /**
   * Runs what follows a committed append (its wake-ups): in the background, the append does not
   * wait for it; otherwise it does. Its failure is dropped, as a lost notice is: a listener or a
   * worker that was not woken looks again at its next due time.
   */
  followUp(task: () => Promise<void>): Promise<void> {
    const run = task().catch(() => {});
    if (!this.background) return run;
    this.following.add(run);
    void run.finally(() => this.following.delete(run));
    return Promise.resolve();
  }

  /** Resolves once every notice handed over so far has been sent (or failed to be), and every follow-up has run. */
  async flush(): Promise<void> {
    while (this.sending || this.following.size > 0) {
      if (this.sending) await this.sending;
      await Promise.all([...this.following]);
    }
  }

  private async send(): Promise<void> {
    const gatherMs = this.background ? (this.options.gatherMs ?? 0) : 0;
    if (gatherMs > 0) await new Promise((resolve) => setTimeout(resolve, gatherMs));
    while (this.queued) {
      const payload = encodeChangeNotice([...this.streams], this.workDueAt, this.options.origin);
      this.streams.clear();
      this.workDueAt = null;
      this.queued = false;
      // A notice lost here (a dropped connection) only delays listeners until their next look.
      await this.announcer.notify(EVENTS_CHANNEL, payload).catch(() => {});
    }
    this.sending = null;
  }
}
