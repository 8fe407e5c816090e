import { sql, type Selectable } from "kysely";
import { streamIdOf } from "../../../events/envelope";
import type { BlueprintView, LeaseView, ResourcePlan, ResourceView } from "../../blueprints/blueprint";
import type { BlueprintsTable } from "../../store/schema";
import { blueprintViewOf, resourceViewOf } from "../../blueprints/blueprint-views";
import { CapacityConflictError, VersionConflictError } from "../../domain/errors";
import { poolPolicyOfRow } from "../../domain/pool-policy";
import { isHoldActive } from "../../domain/resource-hold";
import { leasesServed } from "../../queries/leases-served";
import { idleSinceOf, resourceLoads } from "../../queries/resource-load";
import { freeNumber } from "../decide-allocation";
import { decidePool, type PoolDecision, type PoolResource } from "../decide-pool";
import { isHoldLock, leaseUsePrefix, slotNumberOf } from "../slot-keys";
import type { WorkerContext } from "../worker-context";
import { heldLeaseAppends, resourceAllocatedAppend } from "./held-lease-appends";

/** Rounds one run takes (one build each): a bigger pool is finished by the next run, due at once. */
const MAX_ROUNDS = 8;
/** After a resource the pool built ended before it was active, the pool waits this long before building again. */
const FAILED_BUILD_WAIT_MS = 60_000;
/** With no deadline, the item still runs this often: a wake-up lost between processes costs at most this. */
const IDLE_CHECK_MS = 10 * 60_000;

/**
 * The pool step of a blueprint with a pool policy (src/domain/pool-policy.ts): releases the
 * recycled resources whose last lease has ended and the idle ones beyond minReady, builds what
 * the warm pool misses, then moves its own item to the next deadline (an idle or age limit).
 * Events wake it earlier (projections/work-projection.ts). A wake-up that lands between this
 * step's read and its move of the item would be overwritten, so after moving it the step looks
 * once more, as the allocator does after committing a wait.
 */
export async function maintainPool(ctx: WorkerContext, blueprintId: string): Promise<void> {
  let parked = false;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const loaded = await loadPool(ctx, blueprintId);
    if (!loaded) {
      // A kind this process does not serve: nothing to do here now; left due, the item would run without end.
      await moveItem(ctx, blueprintId, new Date(ctx.clock.now().getTime() + IDLE_CHECK_MS));
      return;
    }
    const decision = decidePool(loaded.view);
    if (decision.release.length === 0 && (decision.build === 0 || loaded.plan === null)) {
      if (parked) return;
      await moveItem(ctx, blueprintId, decision.nextCheckAt ?? new Date(ctx.clock.now().getTime() + IDLE_CHECK_MS));
      parked = true;
      continue;
    }
    parked = false;
    try {
      await act(ctx, loaded, decision);
    } catch (error) {
      // A lease took the resource or another worker the limit slot meanwhile: decide again.
      if (!(error instanceof CapacityConflictError) && !(error instanceof VersionConflictError)) throw error;
    }
  }
  // Still work to do: due again at once.
  await moveItem(ctx, blueprintId, ctx.clock.now());
}

interface LoadedPool {
  blueprint: { id: string; resourceType: string };
  view: Parameters<typeof decidePool>[0];
  versions: Map<string, number>;
  /** The next resource to build (its plan and limit slot), or null when the blueprint can build none now. */
  plan: { plan: ResourcePlan; limitSlot: number | null } | null;
}

async function loadPool(ctx: WorkerContext, blueprintId: string): Promise<LoadedPool | null> {
  const { db, registry } = ctx;
  const row = await db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", blueprintId).executeTakeFirst();
  if (!row || !registry.has(row.kind)) return null;
  const now = ctx.clock.now();
  const policy = poolPolicyOfRow(row);
  const undestroyed = await db.selectFrom("resources").selectAll().where("blueprint_id", "=", blueprintId).where("status", "in", ["pending", "active", "released", "broken"]).execute();
  const live = undestroyed.filter((r) => r.status === "pending" || r.status === "active");
  // Leases served, read before the locks: a lease counted here was acquired before the locks are
  // read, so its slot shows there until it ends. Read after them, a lease acquired in between
  // would count as served without showing as live, and the pool would release a recycled
  // resource under it. Its use numbers, from the locks, are in one snapshot with its live leases.
  const served = policy.maxLeasesPerResource ? await leasesServed(db, live.map((r) => r.resource_id)) : new Map<string, number>();
  const scopes = [blueprintId, ...live.map((r) => r.resource_id)];
  const locks = await db.selectFrom("slot_locks").select(["lock_key", "owner_stream_id"]).where(sql<boolean>`scope_id = any(${scopes}::text[])`).execute();
  // A hold's slot locks are no leases (isHoldLock); a held resource is not ready anyway.
  const slotsOf = (prefix: string) => locks.filter((l) => l.lock_key.startsWith(prefix) && !isHoldLock(l)).map((l) => slotNumberOf(l.lock_key));
  const usedLimitSlots = slotsOf(`blueprint:${blueprintId}:limit:`);
  const loads = await resourceLoads(db, live.filter((r) => r.status === "active").map((r) => r.resource_id));

  const resources: PoolResource[] = live.map((r) => {
    const liveLeases = slotsOf(`resource:${r.resource_id}:slot:`).length;
    return {
      resourceId: r.resource_id,
      status: r.status as "pending" | "active",
      leaseSlots: r.lease_slots,
      liveLeases,
      // As the allocator counts them: its use numbers taken, or its leases' rows if those say more.
      leasesServed: Math.max(served.get(r.resource_id) ?? 0, ...slotsOf(leaseUsePrefix(r.resource_id))),
      activatedAt: r.activated_at ? new Date(r.activated_at) : null,
      idleSince: idleSinceOf(r.status, r.activated_at, { liveLeases, lastLeaseEndedAt: loads.get(r.resource_id)?.lastLeaseEndedAt ?? null }),
      held: r.hold_reason !== null && isHoldActive({ until: r.hold_until ? new Date(r.hold_until).toISOString() : null }, now),
      suspect: r.suspect_reason !== null,
    };
  });

  // Pool-built (no lease asked) and ended without activating: a failed build, or one an operator
  // released. Read only for a warm pool: recycling alone builds nothing.
  const warm = (policy.minReady ?? 0) > 0;
  const failed = warm
    ? await db
        .selectFrom("resources")
        .select((eb) => eb.fn.max("ended_at").as("at"))
        .where("blueprint_id", "=", blueprintId)
        .where("for_lease_id", "is", null)
        .where("activated_at", "is", null)
        .where("ended_at", "is not", null)
        .executeTakeFirst()
    : undefined;
  const buildBlockedUntil = failed?.at ? new Date(new Date(failed.at).getTime() + FAILED_BUILD_WAIT_MS) : null;

  let plan: LoadedPool["plan"] = null;
  const limitSlot = row.resource_limit === null ? null : freeNumber(usedLimitSlots, row.resource_limit);
  if (warm && row.enabled && (row.resource_limit === null || limitSlot !== null)) {
    plan = planWarm(ctx, row, undestroyed.map((r) => resourceViewOf(r, slotsOf(`resource:${r.resource_id}:slot:`).length)), now, limitSlot);
  }
  return {
    blueprint: { id: blueprintId, resourceType: row.resource_type },
    view: { policy, enabled: row.enabled, resourceLimit: row.resource_limit, usedLimitSlots: usedLimitSlots.length, resources, now, buildBlockedUntil },
    versions: new Map(live.map((r) => [r.resource_id, r.version])),
    plan,
  };
}

/**
 * The blueprint's plan for one more resource, or null when it can build none now (a failing
 * target, no host left, a config the kind no longer parses: the pool then builds nothing, and
 * recycling goes on).
 */
function planWarm(ctx: WorkerContext, row: Selectable<BlueprintsTable>, existing: ResourceView[], now: Date, limitSlot: number | null): LoadedPool["plan"] {
  let blueprint: BlueprintView;
  try {
    blueprint = blueprintViewOf(row, ctx.registry);
  } catch {
    return null;
  }
  // A failing target is tried again once its retry time has passed, as the allocator does.
  const view = { ...blueprint, failingTargets: blueprint.failingTargets.filter((f) => new Date(f.retryAt) > now) };
  const planned = ctx.registry.get(row.kind).planResource(view, poolLease(row.blueprint_id, row.resource_type), existing);
  return "leaseSlots" in planned ? { plan: planned, limitSlot } : null;
}

/** The lease a warm-pool resource is planned for: no one's, with no attributes asked for. */
function poolLease(blueprintId: string, resourceType: string): LeaseView {
  return { leaseId: `pool-${blueprintId}`, resourceType, attributes: {}, owner: "drydock", ownerResourceId: null, authorizingObject: null };
}

async function act(ctx: WorkerContext, loaded: LoadedPool, decision: PoolDecision): Promise<void> {
  const meta = { actor: `pool:${ctx.workerId}`, correlationId: streamIdOf("blueprint", loaded.blueprint.id) };
  for (const release of decision.release) {
    try {
      await ctx.store.append(streamIdOf("resource", release.resourceId), loaded.versions.get(release.resourceId)!, [{ type: "ResourceReleased", data: { reason: release.reason } }], meta);
    } catch (error) {
      if (!(error instanceof VersionConflictError)) throw error;
    }
  }
  if (decision.build === 0 || loaded.plan === null) return;
  const { plan, limitSlot } = loaded.plan;
  const resourceId = ctx.ids.next("resource");
  await ctx.store.appendMany(
    [
      resourceAllocatedAppend(resourceId, loaded.blueprint, plan, limitSlot, { forLeaseId: null, reason: decision.buildReason }),
      ...heldLeaseAppends(ctx, resourceId, loaded.blueprint.id, plan.heldLeases),
    ],
    meta,
  );
}

/** Moves the blueprint's pool item to `at` (its time is operational: a rebuild does not compare it). */
async function moveItem(ctx: WorkerContext, blueprintId: string, at: Date): Promise<void> {
  await ctx.db.updateTable("work_items").set({ run_at: at }).where("stream_id", "=", streamIdOf("blueprint", blueprintId)).execute();
}
