import { sql } from "kysely";
import { StaleCapacityView } from "./capacity-view-cache";
import { TemporaryFailure } from "../blueprints/failures";
import { stepRetryMs } from "./backoff";
import type { ChangeSource } from "../store/change-feed";
import type { ChangeNotice } from "../store/change-notice";
import { RETRY_WAIT_CLAIM, type WorkClaim } from "../store/projection";
import { ClaimCarryingStore, type DeferredStart } from "./claim-carrying-store";
import type { AllocationSnapshot } from "./allocation-snapshot";

/** Steps the fast path runs in a row for one stream (allocate, activate: two are enough today). */
const CLAIMED_STEPS = 4;
import { runWorkItem } from "./run-work-item";
import type { WorkerContext } from "./worker-context";

export interface WorkerOptions {
  /** A claimed item whose worker died is taken over after this long. */
  claimTimeoutMs: number;
  /** Items run at once by this worker. */
  concurrency: number;
  /** The longest sleep between looks when nothing wakes the worker (a lost NOTIFY, a clock jump). */
  maxIdleMs: number;
  /** A step that threw is retried after about this long; after each further failure in a row, twice as long (with jitter). */
  failureRetryMs: number;
  /** The longest wait between tries of a step that keeps failing. */
  failureRetryMaxMs: number;
  /** A step threw; `retry` says which failure in a row it was and when the step runs again (absent: a failure outside any step). */
  onError?: (error: unknown, streamId: string, retry?: StepRetry) => void;
}

/** A failed step's place in its run of failures, and its next try. */
export interface StepRetry {
  failures: number;
  at: Date;
}

export const defaultWorkerOptions: WorkerOptions = { claimTimeoutMs: 60_000, concurrency: 8, maxIdleMs: 30_000, failureRetryMs: 5_000, failureRetryMaxMs: 10 * 60_000 };

/** The most of an error's message a work item keeps (last_error). */
const LAST_ERROR_CHARS = 2000;

/**
 * The allocator's worker: claims due work items with FOR UPDATE SKIP LOCKED and a claim timeout,
 * so any number of workers in any number of processes share one queue, and a killed worker's
 * items are taken over when their claim runs out. It sleeps until the next item is due and is
 * woken early by the notice of every append (change-feed.ts: this instance's at once, others' by NOTIFY).
 */
export class AllocatorWorker {
  private readonly options: WorkerOptions;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = true;
  private unsubscribe: (() => void) | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** Numbers each claim, so releasing one never releases a later claim of the same item (see claim). */
  private claims = 0;
  /** When the sleeping worker's timer fires (ms); a notice of work due earlier moves it. */
  private nextWakeAt = Infinity;
  /** The earliest due time noticed while sleepUntilNextDue reads the queue (its read may predate it). */
  private noticedDueAt = Infinity;

  constructor(
    private readonly ctx: WorkerContext,
    private readonly changes: ChangeSource,
    options: Partial<WorkerOptions> = {},
  ) {
    this.options = { ...defaultWorkerOptions, ...options };
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.unsubscribe = this.changes.subscribe((notice) => this.noticed(notice));
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    await this.idle();
  }

  /**
   * Resolves once no loop pass and no step is running in this process, including the teardowns
   * a release started without waiting (runClaimedStepsSoon). Work due later is not waited for.
   */
  async idle(): Promise<void> {
    while (this.running || this.inFlight.size > 0) {
      await Promise.allSettled([...this.inFlight]);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * A commit's notice: claim only when it scheduled work that is due now; work due later just
   * moves the timer earlier; a commit that scheduled no unclaimed work costs nothing.
   */
  private noticed(notice: ChangeNotice): void {
    if (notice.workDueAt === null || this.stopped) return;
    this.noticedDueAt = Math.min(this.noticedDueAt, notice.workDueAt);
    const wait = notice.workDueAt - this.ctx.clock.now().getTime();
    if (wait <= 0) return this.wake();
    if (this.running || notice.workDueAt >= this.nextWakeAt) return;
    this.setTimer(wait);
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
    for (const item of claimed) this.track(this.runClaimed(item));
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
    await this.runClaimed(claimed);
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
  private async claim(limit: number, streamId: string | null): Promise<ClaimedItem[]> {
    const now = this.ctx.clock.now();
    const until = new Date(now.getTime() + this.options.claimTimeoutMs);
    const token = `${this.ctx.workerId}#${++this.claims}`;
    const rows = await sql<{ stream_id: string; failures: number }>`
      UPDATE work_items SET claimed_by = ${token}, claimed_until = ${until}
       WHERE stream_id IN (
         SELECT stream_id FROM work_items
          WHERE run_at <= ${now}
            AND (claimed_until IS NULL OR claimed_until < ${now})
            ${streamId ? sql`AND stream_id = ${streamId}` : sql``}
          ORDER BY run_at
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED)
      RETURNING stream_id, failures`.execute(this.ctx.db);
    return rows.rows.map((r) => ({ streamId: r.stream_id, token, failures: r.failures }));
  }

  private async runClaimed({ streamId, token, failures }: ClaimedItem): Promise<void> {
    try {
      await runWorkItem(this.ctx, streamId);
      // A step that appended rewrote the item (and dropped the claim). One that appended nothing
      // leaves it claimed: release it so it runs again when due.
      await this.release(streamId, token);
    } catch (error) {
      await this.failed(streamId, token, error, failures);
    }
  }

  private async sleepUntilNextDue(): Promise<void> {
    this.noticedDueAt = Infinity;
    const next = await sql<{ at: Date | null }>`
      SELECT min(CASE WHEN claimed_until IS NOT NULL AND claimed_until > run_at THEN claimed_until ELSE run_at END) AS at
        FROM work_items`.execute(this.ctx.db).catch(() => ({ rows: [{ at: null }] }));
    const at = next.rows[0]?.at;
    const due = Math.min(at ? new Date(at).getTime() : Infinity, this.noticedDueAt);
    const wait = Number.isFinite(due) ? due - this.ctx.clock.now().getTime() : this.options.maxIdleMs;
    if (this.stopped || this.running) return;
    this.setTimer(wait);
  }

  private setTimer(waitMs: number): void {
    clearTimeout(this.timer);
    const wait = Math.max(5, Math.min(waitMs, this.options.maxIdleMs));
    this.nextWakeAt = this.ctx.clock.now().getTime() + wait;
    this.timer = setTimeout(() => {
      this.nextWakeAt = Infinity;
      this.wake();
    }, wait);
    this.timer.unref?.();
  }

  /**
   * A claim on a stream's next step, for the append that schedules it to store (AppendOptions.claim,
   * with the stream's id): this process then runs that step itself (runClaimedSteps).
   */
  newClaim(): Omit<WorkClaim, "streamId"> {
    return { token: `${this.ctx.workerId}#${++this.claims}`, until: new Date(this.ctx.clock.now().getTime() + this.options.claimTimeoutMs) };
  }

  /**
   * The fast path: runs the steps of a stream whose work item an append stored claimed by
   * `claim`, one after another while each step's append keeps the claim (its next step is due at
   * once), up to `maxSteps`. No claim is taken by UPDATE and no worker is woken for them. A step
   * whose append let the claim go is done; a step that appended nothing releases the claim, so
   * the item runs when due; a step that failed keeps it as the retry delay, as in runClaimed.
   * `requestSnapshot`: the capacity view the request in `start` was checked against, for the
   * first step's allocation (read once for both: prepareLeaseRequest).
   */
  async runClaimedSteps(claim: WorkClaim, start?: DeferredStart, requestSnapshot?: AllocationSnapshot): Promise<void> {
    const deferred: DeferredStart = start ?? { events: [], at: new Date(0) };
    const run = (async () => {
      for (let step = 0; step < CLAIMED_STEPS; step++) {
        const store = new ClaimCarryingStore(this.ctx.store, claim, deferred);
        let failure: { error: unknown } | null = null;
        try {
          await runWorkItem({ ...this.ctx, store }, claim.streamId, step === 0 ? requestSnapshot : undefined);
        } catch (error) {
          failure = { error };
        }
        // Decided over a kept view, a first step that did not store its guarded append stores
        // nothing at all (the request was checked over that view, its token perhaps not at all):
        // its caller makes the request again whole over a fresh one (lease-routes.ts).
        if (step === 0 && requestSnapshot?.kept && !store.outcome.appended) {
          const error = failure?.error;
          throw error instanceof StaleCapacityView ? error : new StaleCapacityView(failure ? `its first step failed: ${(error as Error).message}` : "its first step stored nothing");
        }
        if (failure) {
          // The request is stored whatever happened to the step; its item is then a worker's.
          if (start) await store.flush();
          // Its item was written by this request's append (or the step's before): no failure before this one.
          await this.failed(claim.streamId, claim.token, failure.error, 0);
          return;
        }
        if (store.outcome.kept) continue;
        if (start && !store.outcome.appended) await store.flush();
        else if (!store.outcome.appended) await this.release(claim.streamId, claim.token);
        return;
      }
      // Steps left that this request will not run: the loop or another worker takes them.
      await this.release(claim.streamId, claim.token);
      this.wake();
    })();
    this.inFlight.add(run);
    try {
      await run;
    } finally {
      this.inFlight.delete(run);
    }
  }

  /** Whether this worker runs work in the background (started, not stopped). */
  get runsInBackground(): boolean {
    return !this.stopped;
  }

  /**
   * runClaimedSteps without waiting for it (a release's teardown); stop() still waits for it.
   * It starts on the next turn of the event loop, once the answer in hand has been written: run
   * at once, the step's first stretch of synchronous work (ending the lease's processes, moving
   * its directories) ran before the answer left, on the microtasks between handler and socket.
   */
  runClaimedStepsSoon(claim: WorkClaim): void {
    const soon = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.runClaimedSteps(claim).catch((error) => this.options.onError?.(error, claim.streamId)));
    this.inFlight.add(soon);
    void soon.finally(() => this.inFlight.delete(soon));
  }

  private release(streamId: string, token: string) {
    // The step ran without failing: any failures before it are over too.
    return this.ctx.db
      .updateTable("work_items")
      .set({ claimed_by: null, claimed_until: null, failures: 0, last_error: null, last_failed_at: null })
      .where("stream_id", "=", streamId)
      .where("claimed_by", "=", token)
      .execute();
  }

  /**
   * Keeps the claim as the retry delay (marked as a wait: RETRY_WAIT_CLAIM), and counts the
   * failure on the item with its error, for operators (a resource's `failingStep`,
   * drydock_work_items_failing). The delay (stepRetryMs) doubles with each failure in a row, from
   * failureRetryMs up to failureRetryMaxMs, with jitter so failing items do not retry in step: a
   * teardown a cloud refuses for good is tried every few minutes, not every few seconds for ever.
   * A step that says when to try again (a host that is down: its health interval) keeps that
   * pace. An append to the stream rewrites the item and starts the count again (work-projection.ts).
   */
  private async failed(streamId: string, token: string, error: unknown, failuresBefore: number): Promise<void> {
    const failures = failuresBefore + 1;
    const hinted = error instanceof TemporaryFailure ? (error.retryAfterMs ?? 0) : 0;
    const delay = stepRetryMs(failures, hinted, this.ctx.random(), { baseMs: this.options.failureRetryMs, maxMs: this.options.failureRetryMaxMs });
    const now = this.ctx.clock.now();
    const at = new Date(now.getTime() + delay);
    this.options.onError?.(error, streamId, { failures, at });
    const message = (error instanceof Error ? error.message : String(error)).slice(0, LAST_ERROR_CHARS);
    await this.ctx.db
      .updateTable("work_items")
      .set({ claimed_by: `${RETRY_WAIT_CLAIM}${token}`, claimed_until: at, failures, last_error: message, last_failed_at: now })
      .where("stream_id", "=", streamId)
      .where("claimed_by", "=", token)
      .execute()
      .catch(() => {});
    // The retry is due later than anything the sleeping loop knows of: let it look.
    this.wake();
  }
}

/** A work item this worker claimed: its claim's token, and its step's failures in a row so far. */
interface ClaimedItem {
  streamId: string;
  token: string;
  failures: number;
}
