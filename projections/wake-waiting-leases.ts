import { sql, type RawBuilder } from "kysely";
import { EVENTS_CHANNEL } from "../src/store/event-store";
import type { Executor } from "../src/store/projection";
import { encodeChangeNotice } from "../src/store/change-notice";

/**
 * Wakes the first `count` leases of the type that wait for capacity and have not been woken yet.
 *
 * "Not woken yet" is read from the lease's own row, not from this wake-up's time: its item still
 * runs at the time its last wait set (the retry, or the expiry if that comes first), which a
 * wake-up moves earlier. Two slots freed at nearly the same time must wake two leases, and their
 * wake-ups can run in either order (two processes, clocks a few milliseconds apart, or one
 * process's follow-ups): had the later release's wake-up run first, the earlier one's, asking for
 * items due after its own, older, time, took the same lease again and the second lease slept
 * through its backoff, up to a minute, beside a free slot. Picking and moving in one statement,
 * skipping rows another wake-up holds, keeps two at once from taking the same lease either.
 */
export async function wakeWaitingLeases(db: Executor, resourceType: string, at: Date, count: number): Promise<void> {
  if (count <= 0) return;
  await wakeFirstWaiting(db, sql`l.resource_type = ${resourceType} AND l.wait_cause IS DISTINCT FROM 'quota'`, at, count);
}

/**
 * The first of the owner's leases that waits on its quota (any type: a quota may count every
 * type). A freed slot does not wake those (wakeWaitingLeases): only the end of the owner's own
 * lease lets one go.
 */
export async function wakeQuotaWaiter(db: Executor, owner: string, at: Date): Promise<void> {
  await wakeFirstWaiting(db, sql`l.owner = ${owner} AND l.wait_cause = 'quota'`, at, 1);
}

/**
 * The first `count` pending leases matching `which`, in queue order, not woken yet: due at `at`.
 * A read first: in the usual case nobody waits, and it ends there without a write.
 */
async function wakeFirstWaiting(db: Executor, which: RawBuilder<unknown>, at: Date, count: number): Promise<void> {
  const waiting = sql`
    FROM leases l JOIN work_items w ON w.stream_id = 'lease-' || l.lease_id
    WHERE l.status = 'pending' AND ${which} AND w.kind = 'allocate'
      AND w.run_at > ${at} AND w.run_at >= LEAST(l.retry_at, l.expires_at)`;
  const any = await sql`SELECT 1 ${waiting} LIMIT 1`.execute(db);
  if (any.rows.length === 0) return;
  const woken = await sql<{ stream_id: string }>`
    UPDATE work_items SET run_at = ${at}
     WHERE stream_id IN (
       SELECT w.stream_id ${waiting}
        ORDER BY l.priority DESC, l.requested_at, l.lease_id
        LIMIT ${count}
        FOR UPDATE OF w SKIP LOCKED)
     RETURNING stream_id`.execute(db);
  if (woken.rows.length > 0) await notifyDue(db, woken.rows, at);
}

/**
 * Wakes the given leases ahead in the queue if they still wait and nobody has woken them since
 * their last wait (whatever they last waited for: on paper they take the capacity free now). A
 * lease that waits behind them for that capacity (decide-in-queue.ts) calls this after its wait
 * commits: the wake-up that freed the capacity was theirs, and if it was lost (its process died
 * between the commit and the wake-up, or the wake-up failed), they would otherwise sleep through
 * their backoff beside it while the queue behind them waits too.
 */
export async function wakeLeasesAhead(db: Executor, leaseIds: readonly string[], at: Date): Promise<void> {
  if (leaseIds.length === 0) return;
  await wakeFirstWaiting(db, sql`l.lease_id IN (${sql.join(leaseIds)})`, at, leaseIds.length);
}

export function notifyDue(db: Executor, rows: readonly { stream_id: string }[], at: Date) {
  return sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${encodeChangeNotice(rows.map((r) => r.stream_id), at.getTime())})`.execute(db);
}
