import { sql } from "kysely";
import { TemporaryFailure } from "../blueprints/failures";
import { EVENTS_CHANNEL } from "../store/event-store";
import type { Database } from "../store/database";
import { runWorkItem } from "./run-work-item";
import type { WorkerContext } from "./worker-context";

export interface WorkerOptions {
  /** A claimed item whose worker died is taken over after this long. */
  claimTimeoutMs: number;
  /** Items run at once by this worker. */
  concurrency: number;
  /** The longest sleep between looks when nothing wakes the worker (a lost NOTIFY, a clock jump). */
  maxIdleMs: number;
  /** A step that threw is retried after about this long. */
  failureRetryMs: number;
  onError?: (error: unknown, streamId: string) => void;
}

export const defaultWorkerOptions: WorkerOptions = { claimTimeoutMs: 60_000, concurrency: 8, maxIdleMs: 30_000, failureRetryMs: 5_000 };

/**
 * The allocator's worker: claims due work items with FOR UPDATE SKIP LOCKED and a claim timeout,
 * so any number of workers in any number of processes share one queue, and a killed worker's
 * items are taken over when their claim runs out. It sleeps until the next item is due and is
 * woken early by NOTIFY from every append (in-process on PGlite).
 */
export class AllocatorWorker {
  private readonly options: WorkerOptions;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = true;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** Numbers each claim, so releasing one never releases a later claim of the same item (see claim). */
  private claims = 0;

  constructor(
    private readonly ctx: WorkerContext,
    private readonly database: Pick<Database, "listen">,
    options: Partial<WorkerOptions> = {},
  ) {
    this.options = { ...defaultWorkerOptions, ...options };
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.unlisten = await this.database.listen(EVENTS_CHANNEL, () => this.wake());
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.unlisten?.();
    while (this.running || this.inFlight.size > 0) {
      await Promise.allSettled([...this.inFlight]);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        while (!this.stopped && (await this.runDue()) > 0) {
          // keep draining while there is due work
        }
      } while (this.again && !this.stopped);
    } catch (error) {
      this.options.onError?.(error, "*");
    } finally {
      this.running = false;
    }
    if (!this.stopped) await this.sleepUntilNextDue();
  }

  /** Claims and runs the items that are due now; returns how many it ran. */
  async runDue(): Promise<number> {
    const free = this.options.concurrency - this.inFlight.size;
    if (free <= 0) {
      await Promise.race(this.inFlight);
      return 1;
    }
    const claimed = await this.claim(free, null);
    for (const { streamId, token } of claimed) this.track(this.runClaimed(streamId, token));
    if (claimed.length === 0 && this.inFlight.size > 0) {
      await Promise.race(this.inFlight);
      return 1;
    }
    return claimed.length;
  }

  /**
   * Runs the work of one stream now, if it is due and nobody holds it (the API's fast path for
   * `?wait=`); returns whether it ran.
   */
  async runNow(streamId: string): Promise<boolean> {
    const [claimed] = await this.claim(1, streamId);
    if (!claimed) return false;
    await this.runClaimed(streamId, claimed.token);
    return true;
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => {
      this.inFlight.delete(p);
      if (!this.stopped) this.wake();
    });
  }

  /**
   * Each claim gets its own token in claimed_by. A step that appends drops the claim, so the
   * item can be claimed again (by the loop or by runNow) before the first run has released it;
   * a release keyed on the worker id alone would then drop that newer claim and let two runs of
   * one stream overlap.
   */
  private async claim(limit: number, streamId: string | null): Promise<{ streamId: string; token: string }[]> {
    const now = this.ctx.clock.now();
    const until = new Date(now.getTime() + this.options.claimTimeoutMs);
    const token = `${this.ctx.workerId}#${++this.claims}`;
    const rows = await sql<{ stream_id: string }>`
      UPDATE work_items SET claimed_by = ${token}, claimed_until = ${until}
       WHERE stream_id IN (
         SELECT stream_id FROM work_items
          WHERE run_at <= ${now}
            AND (claimed_until IS NULL OR claimed_until < ${now})
            ${streamId ? sql`AND stream_id = ${streamId}` : sql``}
          ORDER BY run_at
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED)
      RETURNING stream_id`.execute(this.ctx.db);
    return rows.rows.map((r) => ({ streamId: r.stream_id, token }));
  }

  private async runClaimed(streamId: string, token: string): Promise<void> {
    try {
      await runWorkItem(this.ctx, streamId);
      // A step that appended rewrote the item (and dropped the claim). One that appended nothing
      // leaves it claimed: release it so it runs again when due.
      await this.ctx.db
        .updateTable("work_items")
        .set({ claimed_by: null, claimed_until: null })
        .where("stream_id", "=", streamId)
        .where("claimed_by", "=", token)
        .execute();
    } catch (error) {
      this.options.onError?.(error, streamId);
      // Keep the claim as the retry delay, with jitter so failing items do not retry in step. A
      // step that knows better (a host that is down: retry at its next health interval) says so.
      const hinted = error instanceof TemporaryFailure ? (error.retryAfterMs ?? 0) : 0;
      const delay = Math.max(hinted, this.options.failureRetryMs * (0.5 + this.ctx.random()));
      await this.ctx.db
        .updateTable("work_items")
        .set({ claimed_until: new Date(this.ctx.clock.now().getTime() + delay) })
        .where("stream_id", "=", streamId)
        .where("claimed_by", "=", token)
        .execute()
        .catch(() => {});
    }
  }

  private async sleepUntilNextDue(): Promise<void> {
    const next = await sql<{ at: Date | null }>`
      SELECT min(CASE WHEN claimed_until IS NOT NULL AND claimed_until > run_at THEN claimed_until ELSE run_at END) AS at
        FROM work_items`.execute(this.ctx.db).catch(() => ({ rows: [{ at: null }] }));
    const at = next.rows[0]?.at;
    const wait = at ? new Date(at).getTime() - this.ctx.clock.now().getTime() : this.options.maxIdleMs;
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => this.wake(), Math.max(5, Math.min(wait, this.options.maxIdleMs)));
    this.timer.unref?.();
  }
}
