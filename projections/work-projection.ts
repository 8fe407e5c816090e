import { sql, type CompiledQuery } from "kysely";
import { CompiledShapes } from "../src/store/compiled-once";
import type { RecordedEvent } from "../events/envelope";
import { RETRY_WAIT_CLAIM, type AppendContext, type Executor, type InlineProjection, type WorkClaim } from "../src/store/projection";
import type { StreamState } from "../src/store/stream-state";
import type { LeaseContext } from "../src/machines/lease-machine";
import { notifyDue, wakeQuotaWaiter, wakeWaitingLeases } from "./wake-waiting-leases";
import { blueprintWork, leaseWork, resourceWork, type LeaseScheduleInput, type ResourceScheduleInput, type ScheduledWork } from "./work-schedule";

/** Waiting leases a blueprint change wakes (it may open any amount of capacity). */
const WAKE_ON_BLUEPRINT_CHANGE = 16;

/**
 * The durable work queue. Each stream that needs a worker has one row, recomputed from its
 * projected row after every event (in the append transaction), so a rebuild from the log
 * reproduces which streams need which step; a new event also drops any claim on the row, since
 * the claimed step has moved on.
 *
 * Wake-ups are operational hints, run after the commit: an event that frees capacity moves the
 * retry time of as many of the oldest waiting leases of that type as it freed slots to now
 * (first come, first served, no herd retrying for one slot). Doing this inside the transaction
 * made appends lock other streams' rows in no fixed order, and PostgreSQL found deadlocks. A
 * wake-up that lands on a lease in the middle of deciding to wait is overwritten by that wait;
 * the allocator looks once more after committing a wait, so no freed slot goes unnoticed.
 *
 * Must run after the leases and resources projections.
 */
export const workProjection: InlineProjection = {
  name: "work",
  // The work item is a function of the stream's row and the time of its last event.
  recomputes: true,
  async apply(db, event: RecordedEvent) {
    await scheduleStream(db, event, undefined);
  },

  // The stream's row as the leases or resources projection just wrote it (RETURNING), not read back.
  async applyStream(db, events, append) {
    const streamId = events[0]!.streamId;
    const claim = append.claim?.streamId === streamId ? append.claim : undefined;
    const work = await scheduleStream(db, events.at(-1)!, append.rows.get(streamId), claim);
    if (work && !claim) append.workDueAt = Math.min(append.workDueAt ?? Infinity, work.runAt.getTime());
  },

  /**
   * A lease's work item from the state the append folded, which holds the columns leaseWork reads
   * (status, retry and expiry times) as the lease's row does after the same events. Resources
   * and blueprints are scheduled from their rows, so their appends run in a transaction.
   */
  plan({ streamId, events, state, claim, db }) {
    if (streamId.startsWith("token-") || streamId.startsWith("authorization-")) return [];
    if (!streamId.startsWith("lease-")) return null;
    const context = state.context as LeaseContext;
    const at = events.at(-1)!.recordedAt;
    const work = leaseWork({ status: state.status, retry_at: dateOrNull(context.retryAt), expires_at: dateOrNull(context.expiresAt) }, at);
    const own = claim?.streamId === streamId ? claim : undefined;
    const query = scheduleQuery(db, streamId, work, own);
    return [work && !own ? { query, workDueAt: work.runAt.getTime() } : { query }];
  },

  async afterCommit(db, events, states, append) {
    for (const event of events) await wakeFor(db, event, states.get(event.streamId), append?.rows.get(event.streamId));
  },
};

/**
 * Columns the leases and resources projections return from their write, for wakePoolFor: the
 * row's blueprint, and whether that blueprint has a pool item now. So the append learns that a
 * blueprint has no pool policy (no item: the wake-up would update nothing) from a statement it
 * sends anyway, and a lease cycle on such a blueprint sends no wake-up for it.
 */
export function poolItemReturning(table: "leases" | "resources") {
  return [
    "blueprint_id",
    sql<boolean>`EXISTS (SELECT 1 FROM work_items pool WHERE pool.stream_id = 'blueprint-' || ${sql.ref(`${table}.blueprint_id`)} AND pool.kind = 'pool')`.as("blueprint_pool_item"),
  ] as const;
}

/** Recomputes the stream's work item; returns the work scheduled (null: none). */
async function scheduleStream(db: Executor, last: RecordedEvent, written: Record<string, unknown> | undefined, claim?: WorkClaim): Promise<ScheduledWork<string> | null> {
  const at = last.recordedAt;
  let work: ScheduledWork<string> | null;
  if (last.streamId.startsWith("lease-")) {
    const lease =
      (written as LeaseScheduleInput | undefined) ??
      (await db.selectFrom("leases").select(["status", "retry_at", "expires_at"]).where("lease_id", "=", last.streamId.slice("lease-".length)).executeTakeFirstOrThrow());
    work = leaseWork(lease, at);
  } else if (last.streamId.startsWith("resource-")) {
    const resource =
      (written as ResourceScheduleInput | undefined) ??
      (await db.selectFrom("resources").select(["status", "retry_at", "hold_reason", "hold_until", "destroy_deferred"]).where("resource_id", "=", last.streamId.slice("resource-".length)).executeTakeFirstOrThrow());
    work = resourceWork(resource, at);
  } else if (last.streamId.startsWith("blueprint-")) {
    const blueprint = await db
      .selectFrom("blueprints")
      .select(["min_ready", "max_leases_per_resource", "max_age_seconds", "idle_destroy_seconds"])
      .where("blueprint_id", "=", last.streamId.slice("blueprint-".length))
      .executeTakeFirstOrThrow();
    work = blueprintWork(blueprint, at);
  } else {
    return null;
  }
  await schedule(db, last.streamId, work, claim);
  return work;
}

async function wakeFor(db: Executor, event: RecordedEvent, state: StreamState | undefined, written: Record<string, unknown> | undefined): Promise<void> {
  const at = event.recordedAt;
  const id = event.streamId.slice(event.streamId.indexOf("-") + 1);
  await wakePoolFor(db, event, state, at, written);
  switch (event.type) {
    case "LeaseReleased":
    case "LeaseBroken":
    case "LeaseReacquiring":
    case "LeaseActivated": {
      // The lease's type and owner from the state the append folded (they never change), read
      // from its row only for an append that did not hand the state over.
      const context = state?.context as LeaseContext | undefined;
      const lease = context
        ? { resource_type: context.resourceType, owner_resource_id: context.ownerResourceId, owner: context.owner, lease_quota: context.quota ?? null }
        : await db.selectFrom("leases").select(["resource_type", "owner_resource_id", "owner", "lease_quota"]).where("lease_id", "=", id).executeTakeFirst();
      if (!lease) return;
      if (event.type !== "LeaseActivated") await wakeWaitingLeases(db, lease.resource_type, at, 1);
      // The owner's own lease ended: one of its leases waiting on its quota may go now.
      if ((event.type === "LeaseReleased" || event.type === "LeaseBroken") && lease.lease_quota) await wakeQuotaWaiter(db, lease.owner, at);
      // A resource waiting for the lease it holds: it can go on (or must break).
      if (lease.owner_resource_id) await wake(db, [`resource-${lease.owner_resource_id}`], at, "activate");
      return;
    }
    case "ResourceActivated": {
      const resource = await db.selectFrom("resources").select(["resource_type", "lease_slots"]).where("resource_id", "=", id).executeTakeFirst();
      if (!resource) return;
      const acquired = await db.selectFrom("leases").select("lease_id").where("resource_id", "=", id).where("status", "=", "acquired").execute();
      await wake(db, acquired.map((l) => `lease-${l.lease_id}`), at, "activate");
      await wakeWaitingLeases(db, resource.resource_type, at, resource.lease_slots - acquired.length);
      return;
    }
    case "ResourceDestroyed": {
      const resource = await db.selectFrom("resources").select("resource_type").where("resource_id", "=", id).executeTakeFirst();
      if (resource) await wakeWaitingLeases(db, resource.resource_type, at, 1);
      return;
    }
    case "ResourceHoldReleased":
    case "ResourceRecovered": {
      // It took no new lease while suspect or held: its free slots go to the oldest waiters.
      const resource = await db.selectFrom("resources").select(["resource_type", "lease_slots"]).where("resource_id", "=", id).executeTakeFirst();
      if (resource) await wakeWaitingLeases(db, resource.resource_type, at, resource.lease_slots);
      return;
    }
    case "BlueprintCreated":
    case "BlueprintUpdated":
    case "BlueprintEnabled":
    case "BlueprintTargetRecovered": {
      // A config change may be the fix a broken resource's teardown waits for (a host key, a
      // key): retry those teardowns now rather than at their backoff, so the host is free again.
      if (event.type === "BlueprintUpdated" || event.type === "BlueprintEnabled") await wakeTeardowns(db, id, at);
      const blueprint = await db.selectFrom("blueprints").select("resource_type").where("blueprint_id", "=", id).executeTakeFirst();
      if (blueprint) await wakeWaitingLeases(db, blueprint.resource_type, at, WAKE_ON_BLUEPRINT_CHANGE);
      return;
    }
    case "AuthorizationApproved": {
      // Leases of the blueprint's type may be waiting for exactly this approval.
      const row = await db
        .selectFrom("authorizations")
        .innerJoin("blueprints", "blueprints.blueprint_id", "authorizations.blueprint_id")
        .select("blueprints.resource_type")
        .where("authorizations.authorization_id", "=", id)
        .executeTakeFirst();
      if (row) await wakeWaitingLeases(db, row.resource_type, at, WAKE_ON_BLUEPRINT_CHANGE);
      return;
    }
    default:
      return;
  }
}

/** Resource events that change what a blueprint's pool counts as ready, idle or recycled. */
const POOL_RESOURCE_EVENTS = new Set(["ResourceActivated", "ResourceReleased", "ResourceBroken", "ResourceDestroyed", "ResourceSuspected", "ResourceRecovered", "ResourceHeld", "ResourceHoldReleased"]);

/**
 * Wakes the pool item of the blueprint whose resources the event changes (src/domain/pool-policy.ts):
 * a resource that became active or ended, a lease taken on one or ended (the pool refills; a
 * recycled resource goes once its last lease ends). One update of a row that exists only for a
 * blueprint with a pool policy; the blueprint comes from the state the append folded. None when
 * the append's own write of the row found that blueprint without a pool item (poolItemReturning).
 *
 * That read is in the append's transaction and the wake-up after its commit: a policy set on the
 * blueprint between the two schedules the pool item due at once by its own event, and the pool
 * step then reads the leases and resources as they are. Only a pool step that ran after the
 * policy's commit and before this append's commit misses this event, until the pool's next wake.
 */
async function wakePoolFor(db: Executor, event: RecordedEvent, state: StreamState | undefined, at: Date, written: Record<string, unknown> | undefined): Promise<void> {
  let blueprintId: string | null | undefined;
  if (event.type === "LeaseAcquired") blueprintId = (event.data as { blueprintId: string }).blueprintId;
  else if (event.type === "LeaseReleased" || event.type === "LeaseBroken") {
    blueprintId = state ? (state.context as LeaseContext).blueprintId : (await db.selectFrom("leases").select("blueprint_id").where("lease_id", "=", event.streamId.slice("lease-".length)).executeTakeFirst())?.blueprint_id;
  } else if (POOL_RESOURCE_EVENTS.has(event.type)) {
    blueprintId = state
      ? (state.context as { blueprintId: string }).blueprintId
      : (await db.selectFrom("resources").select("blueprint_id").where("resource_id", "=", event.streamId.slice("resource-".length)).executeTakeFirst())?.blueprint_id;
  }
  if (!blueprintId) return;
  if (written && written.blueprint_id === blueprintId && written.blueprint_pool_item === false) return;
  // The row's holder may be the worker releasing its claim on the item its pool step has just
  // parked at its next check (maintain-pool.ts), on a read made before this append committed:
  // skipped then, this wake-up was lost until that check, minutes on. Waited for, the update
  // sees the parked time and moves it.
  await wake(db, [`blueprint-${blueprintId}`], at, "pool", "wait");
}

async function schedule(db: Executor, streamId: string, work: ScheduledWork<string> | null, claim?: WorkClaim): Promise<void> {
  await db.executeQuery(scheduleQuery(db, streamId, work, claim));
}

/** Every append that schedules sends it: compiled once per shape (compiled-once.ts). */
const scheduleShapes = new CompiledShapes();

function scheduleQuery(db: Executor, streamId: string, work: ScheduledWork<string> | null, claim?: WorkClaim): CompiledQuery {
  if (!work) return scheduleShapes.compile(db, "delete", { streamId }, (db, a) => db.deleteFrom("work_items").where("stream_id", "=", a.streamId));
  // A new event drops any claim (the claimed step has moved on), unless the appender claims the
  // next step itself, and the failures of the step before (worker.ts): the stream moved on.
  const args = { streamId, kind: work.kind, runAt: work.runAt, claimedBy: claim?.token ?? null, claimedUntil: claim?.until ?? null };
  return scheduleShapes.compile(db, "upsert", args, (db, a) => {
    const row = { kind: a.kind, run_at: a.runAt, claimed_by: a.claimedBy, claimed_until: a.claimedUntil };
    return db
      .insertInto("work_items")
      .values({ stream_id: a.streamId, ...row })
      .onConflict((oc) => oc.column("stream_id").doUpdateSet({ ...row, failures: sql<number>`0`, last_error: sql<null>`NULL`, last_failed_at: sql<null>`NULL` }));
  });
}

function dateOrNull(iso: string | null | undefined): Date | null {
  return iso ? new Date(iso) : null;
}

/**
 * Moves items' run time to now. One statement that locks its rows in stream order. By default it
 * skips rows an append holds: that append is rescheduling the stream anyway, from fresh state.
 * `whenLocked: "wait"` waits for them instead, for an item whose holder does not reschedule it
 * from fresh state (wakePoolFor). Either way this runs after the commit, in a statement of its own that
 * holds no other lock while it waits, so a wait cannot close a cycle of waits; and it is a
 * follow-up the answer does not wait for (change-notifier.ts).
 *
 * Only items still of `kind`, the step the wake-up is for: the streams were chosen by a read
 * before this statement, and one may have moved on meanwhile (a lease activated between the
 * read of the acquired leases and this update). Its item is then another step's (an expiry,
 * due later) that has nothing to do now: woken, it would run, append nothing, stay due and run
 * again, without end.
 */
async function wake(db: Executor, streamIds: readonly string[], at: Date, kind: string, whenLocked: "skip" | "wait" = "skip"): Promise<void> {
  if (streamIds.length === 0) return;
  const woken = await sql<{ stream_id: string }>`
    UPDATE work_items SET run_at = ${at}
     WHERE stream_id IN (
       SELECT stream_id FROM work_items
        WHERE stream_id IN (${sql.join(streamIds)}) AND kind = ${kind} AND run_at > ${at}
        ORDER BY stream_id
        FOR UPDATE ${whenLocked === "skip" ? sql`SKIP LOCKED` : sql``})
     RETURNING stream_id`.execute(db);
  // Workers slept through the append's own NOTIFY before this moved the items: tell them again.
  if (woken.rows.length > 0) await notifyDue(db, woken.rows, at);
}

/**
 * Ends the retry delay of the blueprint's failed teardowns (a claim kept as the delay: worker.ts),
 * not the claim of a teardown running now: ended, another worker would run it a second time.
 */
async function wakeTeardowns(db: Executor, blueprintId: string, at: Date): Promise<void> {
  const woken = await sql<{ stream_id: string }>`
    UPDATE work_items SET claimed_until = ${at}
     WHERE kind = 'destroy' AND claimed_until > ${at} AND claimed_by LIKE ${`${RETRY_WAIT_CLAIM}%`}
       AND stream_id IN (SELECT 'resource-' || resource_id FROM resources WHERE blueprint_id = ${blueprintId} AND status IN ('released', 'broken'))
     RETURNING stream_id`.execute(db);
  if (woken.rows.length > 0) await notifyDue(db, woken.rows, at);
}
