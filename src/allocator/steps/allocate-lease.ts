import type { NewEvent } from "../../../events/envelope";
import { streamIdOf } from "../../../events/envelope";
import type { StreamAppend } from "../../store/event-store";
import { CapacityConflictError, VersionConflictError } from "../../domain/errors";
import type { LeaseState } from "../../machines/fold";
import { leaseViewOfState } from "../../blueprints/blueprint-views";
import type { LeaseView } from "../../blueprints/blueprint";
import { blueprintTtlApplies, capExpiry, expiryAfter, leaseCapOf } from "../../domain/lease-ttl";
import type { AllocationView } from "../decide-allocation";
import { retryAt } from "../backoff";
import { decideInQueue } from "../decide-in-queue";
import { loadAllocationView } from "../load-allocation-view";
import type { AllocationSnapshot } from "../allocation-snapshot";
import { leaseSlotKey, leaseUseKey } from "../slot-keys";
import { StaleCapacityView } from "../capacity-view-cache";
import { staleViewGuard, type KeptViewDecision } from "../stale-view-guard";
import { quotaLocks } from "../quota-locks";
import { workerMetadata, type WorkerContext } from "../worker-context";
import { wakeLeasesAhead } from "../../../projections/wake-waiting-leases";
import { loadLease } from "./load-state";
import { heldLeaseAppends, resourceAllocatedAppend } from "./held-lease-appends";

/** Waiting leases retry at least this often even when nothing wakes them. */
const WAIT_BACKOFF = { baseMs: 1000, maxMs: 60_000 };
/** Lost races for a slot before the lease yields instead of deciding again at once. */
const MAX_ROUNDS = 6;

/**
 * One allocation pass for a pending lease: decide over the capacity view, then append the
 * decision with the lease's expected version. A lost race for a slot (another allocator took it
 * first) rolls the whole append back; the pass then decides again over a fresh view.
 * `snapshot`: the view's rows read for this lease already (the fast path's request), for the
 * first decision only; a stale one costs what any stale view does, a lost race and a fresh read.
 */
export async function allocateLease(ctx: WorkerContext, lease: LeaseState, recheck = true, snapshot?: AllocationSnapshot): Promise<void> {
  const c = lease.context;
  const meta = workerMetadata(ctx, c.leaseId);
  const leaseStream = streamIdOf("lease", c.leaseId);
  const leaseView = {
    ...leaseViewOfState(lease),
    blueprintIds: c.blueprintIds,
    authorizingObject: c.authorizingObject,
  };
  // Its place in the queue: the fast path's lease is not stored yet, and was asked for just now.
  const place = { priority: c.priority ?? 0, requestedAt: new Date(c.requestedAt ?? ctx.clock.now()), quota: c.quota ?? null };
  const losses: string[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const now = ctx.clock.now();
    // A view kept from an earlier request (capacity-view-cache.ts) decides only an acquisition,
    // appended with its guard; anything else, or any failure, ends the step: the request is then
    // made again over a view read for it.
    const kept = round === 0 ? snapshot?.kept : undefined;
    const read = await loadAllocationView(ctx.db, ctx.registry, leaseView, now, ctx.reclaimIdleMs, place, round === 0 ? snapshot : undefined);
    // A kept view has this process's commits since its read in it already: only the slots in flight are added.
    const view = ctx.slotsInFlight ? ctx.slotsInFlight.seenIn(read, kept ? undefined : read.readStartedAt) : read;
    // A random free slot, not the lowest: allocators in other processes read views like this one,
    // and each taking the lowest lost a third of its races to the others (two processes, 32 clients).
    const slotOffset = Math.floor(ctx.random() * 1_000_000);
    const outcome = decideInQueue({ ...view, slotOffset });
    // Reading the view and deciding: allocator time, which an explanation tells apart from waiting.
    const durationMs = Math.max(0, ctx.clock.now().getTime() - now.getTime());
    const attempted: NewEvent = {
      type: "AllocationAttempted",
      data: { attempt: c.attempts + 1, decision: outcome.decision.kind, candidates: outcome.candidates, summary: outcome.summary, durationMs },
    };
    const d = outcome.decision;
    if (kept && d.kind !== "acquire") throw new StaleCapacityView(`over it the lease would ${d.kind}`);
    // The TTL the acquiring blueprint gives the lease, if its TTL is still a default.
    const ttlOn = (blueprintId: string) => blueprintTtlOf(ctx, view, blueprintId, lease, now);
    try {
      switch (d.kind) {
        case "acquire": {
          // Under maxLeasesPerResource the lease also takes the resource's next use number.
          const nextUse = view.resources.find((r) => r.resource.resourceId === d.resourceId)?.nextUse ?? null;
          const locks = [leaseSlotKey(d.resourceId, d.slot), ...(nextUse === null ? [] : [leaseUseKey(d.resourceId, nextUse)]), ...quotaLocks({ ...view, slotOffset })];
          const acquired: NewEvent = { type: "LeaseAcquired", data: { resourceId: d.resourceId, blueprintId: d.blueprintId, slot: d.slot, locks, ...ttlOn(d.blueprintId) } };
          const taken = ctx.slotsInFlight?.take(d.resourceId, d.slot);
          // Activated inline only while no other run activates this lease (lease-activations.ts):
          // otherwise acquired only, and the activate step makes its directories.
          const held = ctx.leaseActivations.tryHold(c.leaseId);
          let committed = false;
          try {
            const inline = held ? await activateInline(ctx, view, d.resourceId, leaseView) : null;
            try {
              const guard = kept ? staleViewGuard(ctx.db, keptViewDecision(snapshot!, d, lease)) : undefined;
              await ctx.store.append(leaseStream, lease.version, [attempted, acquired, ...(inline ? [inline.activated] : [])], meta, guard ? { condition: guard } : undefined);
              committed = true;
              if (inline) ctx.inlineTeardowns?.remember(c.leaseId, inline.target);
            } catch (error) {
              await inline?.undo();
              throw error;
            }
          } finally {
            held?.();
            taken?.(committed);
          }
          return;
        }
        case "allocate": {
          const resourceId = ctx.ids.next("resource");
          const appends: StreamAppend[] = [
            resourceAllocatedAppend(resourceId, { id: d.blueprintId, resourceType: c.resourceType }, d.plan, d.limitSlot, { forLeaseId: c.leaseId }),
            // The lease takes the first slot of the resource it caused to be built, so nobody else
            // can take it, and the building capacity already counts against the limit.
            {
              streamId: leaseStream,
              expectedVersion: lease.version,
              events: [attempted, { type: "LeaseAcquired", data: { resourceId, blueprintId: d.blueprintId, slot: 0, locks: [leaseSlotKey(resourceId, 0), ...quotaLocks({ ...view, slotOffset })], ...ttlOn(d.blueprintId) } }],
            },
            ...heldLeaseAppends(ctx, resourceId, d.blueprintId, d.plan.heldLeases),
          ];
          await ctx.store.appendMany(appends, meta);
          return;
        }
        case "reclaim": {
          const row = await ctx.db.selectFrom("resources").select("version").where("resource_id", "=", d.resourceId).executeTakeFirstOrThrow();
          await ctx.store.appendMany(
            [
              { streamId: streamIdOf("resource", d.resourceId), expectedVersion: row.version, events: [{ type: "ResourceReleased", data: { reason: `reclaimed for lease ${c.leaseId}` } }] },
              {
                streamId: leaseStream,
                expectedVersion: lease.version,
                events: [
                  attempted,
                  { type: "LeaseWaiting", data: { reason: `waiting for reclaimed resource ${d.resourceId} to be destroyed`, retryAt: retryAt(now, 1, ctx.random(), WAIT_BACKOFF).toISOString(), blueprintIds: [d.blueprintId] } },
                ],
              },
            ],
            meta,
          );
          return;
        }
        case "wait": {
          const usable = outcome.candidates.filter((x) => x.kind === "blueprint" && x.outcome !== "skipped").map((x) => x.id);
          const waited = await ctx.store.append(
            leaseStream,
            lease.version,
            [attempted, { type: "LeaseWaiting", data: { reason: d.reason, retryAt: retryAt(now, c.attempts + 1, ctx.random(), WAIT_BACKOFF).toISOString(), blueprintIds: usable, cause: d.cause } }],
            meta,
          );
          // The capacity is there and the leases ahead that take it are asleep: their wake-up may
          // have been lost. Waking them here, at most once per wait of theirs, heals that.
          if (d.queuedBehind) await wakeLeasesAhead(ctx.db, d.queuedBehind, ctx.clock.now());
          // Capacity freed by a transaction that committed after our view was read woke this lease
          // while we were deciding, and our wait just overwrote that wake-up. Look once more now
          // that our wait is committed: anything freed before it is visible, anything after it
          // wakes us again.
          if (round === 0 && recheck) {
            const again = decideInQueue(await loadAllocationView(ctx.db, ctx.registry, leaseView, ctx.clock.now(), ctx.reclaimIdleMs, place));
            if (again.decision.kind !== "wait") {
              // A worker's wait gives up the lease's claim: a worker woken meanwhile may take it on
              // (and acquire it). Then it is that worker's: decide again only on the version our wait stored.
              const current = await loadLease(ctx, c.leaseId);
              if (current.status !== "pending" || current.version !== waited.at(-1)!.streamVersion) return;
              return allocateLease(ctx, current, false);
            }
          }
          return;
        }
        case "break":
          await ctx.store.append(leaseStream, lease.version, [attempted, { type: "LeaseBroken", data: { reason: d.reason, error: null } }], meta);
          return;
      }
    } catch (error) {
      // Over a kept view there is no second round here: the request was checked over that view
      // too, and is made again whole (AllocatorWorker.runClaimedSteps, lease-routes.ts).
      if (kept) throw error;
      // Another allocator took the slot, or the resource moved: decide again over a fresh view.
      if (error instanceof CapacityConflictError) losses.push(error.message);
      else if (error instanceof VersionConflictError && error.details?.streamId !== leaseStream) losses.push(error.message);
      else throw error;
    }
  }
  await ctx.store.append(
    leaseStream,
    lease.version,
    [
      {
        type: "LeaseYielded",
        data: {
          reason: `lost the race for a slot ${losses.length} times`,
          retryAt: retryAt(ctx.clock.now(), c.failures + 1, ctx.random(), { baseMs: 100, maxMs: 5000 }).toISOString(),
          attempt: c.failures + 1,
          error: { code: "capacity_conflict", message: losses.at(-1) ?? "" },
        },
      },
    ],
    meta,
  );
}

/** What an acquisition decided over a kept view rests on, from that view's rows (stale-view-guard.ts). */
function keptViewDecision(snapshot: AllocationSnapshot, d: { resourceId: string; blueprintId: string }, lease: LeaseState): KeptViewDecision {
  const resource = snapshot.undestroyed.find((r) => r.resource_id === d.resourceId);
  const blueprint = snapshot.blueprints.find((b) => b.blueprint_id === d.blueprintId);
  if (!resource || !blueprint) throw new StaleCapacityView(`resource ${d.resourceId} or its blueprint is not in it`);
  const c = lease.context;
  return {
    resourceId: d.resourceId,
    resourceVersion: resource.version,
    blueprintId: d.blueprintId,
    blueprintVersion: blueprint.version,
    client: c.authorizingObject,
    resourceType: c.resourceType,
    priority: c.priority ?? 0,
    token: snapshot.kept?.token ?? null,
  };
}

/**
 * Activation done before the acquisition is stored, for a blueprint whose activation is quick
 * and local (activatesLeaseInline) on an active resource: the lease is then acquired and active
 * in one transaction. The resource and blueprint come from the allocation view, read anyway. If
 * the append loses its race, `undo` cleans up what activation made (below); if activation fails, the
 * lease is only acquired, and the activation step tries again and reports the failure as usual.
 * A crash between the two leaves a lease directory no lease owns: the leftover sweep removes it
 * (lease-leftover-sweep.ts).
 *
 * A lease's directories are named by its id, so what this activation made may be another run's
 * too: a stored lease (one that waited) can be decided on by two runs at once, in this process or
 * in another service on the same host, and the other's acquisition may commit after this run
 * lost. So `undo` removes what it made only for a lease the log has never stored: the fast path's
 * own request, whose id no other run can know yet. A stored lease's directories stay: the run
 * that activates it next makes the same ones (activation leaves what is there), its teardown
 * removes them, and the leftover sweep does once the lease is destroyed without them.
 * (lease-activation-race.test.ts has the interleavings.)
 */
async function activateInline(ctx: WorkerContext, view: AllocationView, resourceId: string, lease: LeaseView) {
  const resource = view.resources.find((r) => r.resource.resourceId === resourceId)?.resource;
  const blueprint = view.blueprints.find((b) => b.blueprint.blueprintId === resource?.blueprintId)?.blueprint;
  if (!resource || !blueprint || resource.status !== "active" || !ctx.registry.has(blueprint.kind)) return null;
  const impl = ctx.registry.get(blueprint.kind);
  if (!impl.activatesLeaseInline) return null;
  try {
    const { workingDirectory } = await impl.activateLease(blueprint, resource, lease, ctx.effects);
    return {
      activated: { type: "LeaseActivated", data: { workingDirectory } } satisfies NewEvent,
      target: { blueprint, resource },
      undo: async () => {
        if (await storedAlready(ctx, lease.leaseId)) return;
        await impl.destroyLease(blueprint, resource, lease, ctx.effects).catch(() => undefined);
      },
    };
  } catch {
    return null;
  }
}

/**
 * Whether the log holds the lease. Unknown (the read failed) counts as yes: a directory left
 * behind is removed with the lease, or by the leftover sweep (lease-leftover-sweep.ts), and costs
 * less than an active lease whose directory was removed under it.
 */
async function storedAlready(ctx: WorkerContext, leaseId: string): Promise<boolean> {
  try {
    return (await ctx.db.selectFrom("leases").select("lease_id").where("lease_id", "=", leaseId).executeTakeFirst()) !== undefined;
  } catch {
    return true;
  }
}

/**
 * LeaseAcquired's `blueprintTtl`: the acquiring blueprint's default TTL, counted from now, when
 * the lease's TTL is still a default (src/domain/lease-ttl.ts); nothing otherwise. A context
 * stored before default TTLs has no ttlSource: its TTL was the request's. And its `capped`: the
 * blueprint's cap (maxLeaseSeconds) on the expiry that results, when it cuts it.
 */
function blueprintTtlOf(ctx: WorkerContext, view: AllocationView, blueprintId: string, lease: LeaseState, now: Date) {
  const blueprint = view.blueprints.find((b) => b.blueprint.blueprintId === blueprintId)?.blueprint;
  if (!blueprint || !ctx.registry.has(blueprint.kind)) return {};
  const ttlSeconds = ctx.registry.get(blueprint.kind).defaultLeaseTtlSeconds?.(blueprint.config) ?? null;
  const blueprintTtl = blueprintTtlApplies(lease.context.ttlSource, ttlSeconds) ? { ttlSeconds, expiresAt: expiryAfter(now, ttlSeconds) } : null;
  const cap = lease.context.requestedAt ? leaseCapOf(lease.context.requestedAt, blueprint.maxLeaseSeconds) : null;
  const { capped } = capExpiry(blueprintTtl?.expiresAt ?? lease.context.expiresAt, cap);
  return { ...(blueprintTtl ? { blueprintTtl } : {}), ...(capped ? { capped } : {}) };
}
