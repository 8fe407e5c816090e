import type { AllocationCandidate } from "../../events/lease-events";
import type { BlueprintView, LeaseView, ResourcePlan, ResourceView, Verdict } from "../blueprints/blueprint";
import { quotaReason, type LeaseQuotaOfLease, type LiveLeaseCount } from "../domain/lease-quota";
import { describeHold } from "../domain/resource-hold";

/**
 * The allocator's decision for one pending lease, after Drydock: usable blueprints -> lease a free
 * resource -> build a new one if the blueprint's limit allows -> lease a shared resource -> reclaim
 * an idle one -> wait. Pure: every blueprint answer and every count comes in with the view, so the
 * same view always gives the same decision, and the decision says why each candidate was skipped.
 */
export interface BlueprintCandidate {
  blueprint: BlueprintView;
  /** canEverAllocate, evaluated by the caller. */
  ever: Verdict;
  /** planResource, evaluated by the caller: a plan, or why no resource can be built now. */
  plan: ResourcePlan | Verdict;
  /** Limit slots held by this blueprint's live resources. */
  usedLimitSlots: readonly number[];
  /**
   * May the lease's authorizing object use this blueprint (an approved authorization)? Evaluated
   * by the caller; absent when the lease needs no authorization (an admin's lease).
   */
  authorized?: Verdict;
}

export interface ResourceCandidate {
  resource: ResourceView;
  acquire: Verdict;
  supplemental: boolean;
  /** Lease slots held on this resource. */
  usedSlots: readonly number[];
  /** Active with no live lease since this time (for reclaim). */
  idleSince: Date | null;
  /** Its hold, if any (src/domain/resource-hold.ts): while it lasts the resource takes no new lease and is never reclaimed. */
  hold?: { reason: string; until: Date | null; by: string } | null;
  /**
   * Why its blueprint's recycling policy retires it (src/domain/pool-policy.ts: maxLeasesPerResource,
   * maxAgeSeconds), evaluated by the caller; null or absent: it is not recycled. It takes no new lease.
   */
  recycled?: string | null;
  /**
   * Under maxLeasesPerResource: the number the next lease acquired on it takes (leaseUseKey);
   * null or absent: its blueprint counts no leases.
   */
  nextUse?: number | null;
}

export interface AllocationView {
  lease: LeaseView & { blueprintIds: string[] | null };
  blueprints: readonly BlueprintCandidate[];
  resources: readonly ResourceCandidate[];
  now: Date;
  /** An active resource idle this long may be reclaimed for another lease. */
  reclaimIdleMs: number;
  /**
   * The quota the lease carries and its owner's live leases now (src/domain/lease-quota.ts);
   * absent: no quota.
   */
  quota?: {
    quota: LeaseQuotaOfLease;
    live: LiveLeaseCount;
    /**
     * The owner's quota numbers its live leases hold (src/allocator/slot-keys.ts): of every type,
     * and of the lease's type. The lease takes free ones (quota-locks.ts). Absent: the
     * view was not read from the store (a simulation), and no numbers are taken.
     */
    taken?: { all: readonly number[]; ofType: readonly number[] };
  };
  /**
   * Which free slot (and resource-limit and quota number) a decision takes: freeNumber's offset
   * (default 0: the lowest free one). The allocator passes a random one, so that allocators that
   * read the same view, in other processes or after a lost race, spread over the free slots
   * instead of all trying the same one.
   */
  slotOffset?: number;
}

export type AllocationDecision =
  | { kind: "acquire"; resourceId: string; blueprintId: string; slot: number }
  | { kind: "allocate"; blueprintId: string; limitSlot: number | null; plan: ResourcePlan }
  | { kind: "reclaim"; resourceId: string; blueprintId: string }
  /**
   * `cause` "configuration": nothing but a config change (or a fix on a host) can end this wait;
   * "quota": only the end of one of the owner's own leases can.
   */
  | {
      kind: "wait";
      reason: string;
      cause: "capacity" | "configuration" | "quota";
      /** Leases ahead in the queue that take, on paper, the capacity free now (decide-in-queue.ts). */
      queuedBehind?: readonly string[];
    }
  | { kind: "break"; reason: string };

export interface AllocationOutcome {
  decision: AllocationDecision;
  candidates: AllocationCandidate[];
  summary: string;
}

/**
 * A number below `size` not in `used`: the free one at `offset` (modulo their count) among the free
 * ones, counted from the lowest; offset 0 is the lowest. Allocators that decide over one view with
 * different offsets then spread evenly over the free numbers. (Searching on from `offset` instead
 * would not: with slots 0–31 of 64 taken, every offset from 0 to 32 finds slot 32.)
 */
export function freeNumber(used: readonly number[], size: number, offset = 0): number | null {
  const taken = new Set(used.filter((n) => n >= 0 && n < size));
  const freeCount = size - taken.size;
  if (freeCount <= 0) return null;
  // No list of the free numbers: a resource may have thousands of slots, and this runs for every
  // candidate of every decision. Offset 0 stops at the first free one.
  let skip = offset % freeCount;
  for (let i = 0; i < size; i++) {
    if (taken.has(i)) continue;
    if (skip === 0) return i;
    skip--;
  }
  return null;
}

function isPlan(p: ResourcePlan | Verdict): p is ResourcePlan {
  return "leaseSlots" in p;
}

/** Least loaded first, then active before pending, then oldest id: spreads leases, no randomness. */
function rankResources(a: ResourceCandidate, b: ResourceCandidate): number {
  const load = a.resource.liveLeases / a.resource.leaseSlots - b.resource.liveLeases / b.resource.leaseSlots;
  if (load !== 0) return load;
  if (a.resource.status !== b.resource.status) return a.resource.status === "active" ? -1 : 1;
  return a.resource.resourceId < b.resource.resourceId ? -1 : 1;
}

export function decideAllocation(view: AllocationView): AllocationOutcome {
  const candidates: AllocationCandidate[] = [];
  const skipBlueprint = (id: string, reason: string) => candidates.push({ kind: "blueprint", id, outcome: "skipped", reason });
  const skipResource = (r: ResourceView, reason: string) =>
    candidates.push({ kind: "resource", id: r.resourceId, blueprintId: r.blueprintId, outcome: "skipped", reason });
  const done = (decision: AllocationDecision, summary: string): AllocationOutcome => ({ decision, candidates, summary });

  // 1. Blueprints that could ever serve this lease.
  const usable: BlueprintCandidate[] = [];
  let disabled = 0;
  let unauthorized = 0;
  const misconfiguredBlueprints: string[] = [];
  for (const c of [...view.blueprints].sort((a, b) => (a.blueprint.blueprintId < b.blueprint.blueprintId ? -1 : 1))) {
    const bp = c.blueprint;
    if (view.lease.blueprintIds && !view.lease.blueprintIds.includes(bp.blueprintId)) skipBlueprint(bp.blueprintId, "not allowed for this lease");
    else if (!c.ever.ok && c.ever.cause === "configuration") {
      // A config error is not this lease's fault: it waits for the fix instead of breaking.
      misconfiguredBlueprints.push(`${bp.name}: ${c.ever.reason}`);
      skipBlueprint(bp.blueprintId, c.ever.reason);
    } else if (!c.ever.ok) skipBlueprint(bp.blueprintId, `can never serve this lease: ${c.ever.reason}`);
    else if (c.authorized && !c.authorized.ok) {
      unauthorized++;
      skipBlueprint(bp.blueprintId, c.authorized.reason);
    } else if (!bp.enabled) {
      disabled++;
      skipBlueprint(bp.blueprintId, "disabled");
    } else usable.push(c);
  }
  if (usable.length === 0) {
    // An approval (or an enable) can still come: wait for it rather than break the lease.
    if (unauthorized > 0) {
      const who = view.lease.authorizingObject ?? "this lease";
      const reason = `no ${view.lease.resourceType} blueprint that could serve this lease is authorized for ${who}${disabled > 0 ? " (the authorized ones are disabled)" : ""}`;
      return done({ kind: "wait", reason, cause: "capacity" }, "waiting: not authorized");
    }
    if (disabled > 0) return done({ kind: "wait", reason: `every usable ${view.lease.resourceType} blueprint is disabled`, cause: "capacity" }, "waiting: blueprints disabled");
    if (misconfiguredBlueprints.length > 0) {
      return done({ kind: "wait", reason: `configuration error: ${misconfiguredBlueprints.join("; ")}`, cause: "configuration" }, "waiting: configuration error");
    }
    const reason = `no blueprint can ever provide a ${view.lease.resourceType} for this lease`;
    return done({ kind: "break", reason }, reason);
  }
  const usableIds = new Set(usable.map((c) => c.blueprint.blueprintId));

  // Over its owner's quota: no slot helps until one of the owner's own leases ends.
  const overQuota = view.quota ? quotaReason(view.lease.owner, view.lease.resourceType, view.quota.quota, view.quota.live) : null;
  if (overQuota !== null) return done({ kind: "wait", reason: overQuota, cause: "quota" }, "waiting: quota");

  // 2. Resources of those blueprints with a free slot that accept the lease.
  const free: ResourceCandidate[] = [];
  const shared: ResourceCandidate[] = [];
  /** Held resources, named in a wait's reason so explain can say which hold kept the lease off. */
  const held: string[] = [];
  /** Recycled resources, named in a wait's reason like held ones. */
  const recycled: string[] = [];
  for (const rc of [...view.resources].sort(rankResources)) {
    const r = rc.resource;
    if (!usableIds.has(r.blueprintId)) continue;
    if (r.status !== "active" && r.status !== "pending") skipResource(r, `is ${r.status}`);
    else if (r.suspectReason !== null) skipResource(r, `is suspect (a health check is under way): ${r.suspectReason}`);
    else if (heldAt(rc, view.now)) {
      held.push(`${r.resourceId} ${describeHold(heldAt(rc, view.now)!)}`);
      skipResource(r, describeHold(heldAt(rc, view.now)!));
    } else if (rc.recycled) {
      recycled.push(`${r.resourceId} ${rc.recycled}`);
      skipResource(r, `${rc.recycled}: takes no new lease, released once its last lease ends`);
    } else if (!rc.acquire.ok) skipResource(r, rc.acquire.reason);
    else if (freeNumber(rc.usedSlots, r.leaseSlots) === null) skipResource(r, `all ${r.leaseSlots} slots in use`);
    else if (r.liveLeases > 0 && rc.supplemental) shared.push(rc);
    else free.push(rc);
  }
  const acquire = (rc: ResourceCandidate, why: string): AllocationOutcome => {
    const slot = freeNumber(rc.usedSlots, rc.resource.leaseSlots, view.slotOffset ?? 0)!;
    candidates.push({ kind: "resource", id: rc.resource.resourceId, blueprintId: rc.resource.blueprintId, outcome: "chosen", reason: why });
    for (const other of [...free, ...shared]) {
      if (other !== rc) skipResource(other.resource, "another candidate ranked first");
    }
    return done(
      { kind: "acquire", resourceId: rc.resource.resourceId, blueprintId: rc.resource.blueprintId, slot },
      `acquire slot ${slot} of ${rc.resource.resourceId} (${why})`,
    );
  };

  // 3. A free resource.
  const firstFree = free[0];
  if (firstFree) return acquire(firstFree, `free: ${firstFree.resource.liveLeases}/${firstFree.resource.leaseSlots} slots in use`);

  // 4. Build a new resource where the limit allows.
  const limits: string[] = [];
  const misconfigured: string[] = [];
  for (const c of usable) {
    const bp = c.blueprint;
    const limitSlot = bp.resourceLimit === null ? null : freeNumber(c.usedLimitSlots, bp.resourceLimit, view.slotOffset ?? 0);
    if (bp.resourceLimit !== null && limitSlot === null) {
      limits.push(`${bp.name} at its limit of ${bp.resourceLimit}`);
      skipBlueprint(bp.blueprintId, `at its limit of ${bp.resourceLimit} resources`);
      continue;
    }
    if (!isPlan(c.plan)) {
      limits.push(`${bp.name}: ${c.plan.ok ? "cannot build" : c.plan.reason}`);
      if (!c.plan.ok && c.plan.cause === "configuration") misconfigured.push(`${bp.name}: ${c.plan.reason}`);
      skipBlueprint(bp.blueprintId, c.plan.ok ? "cannot build a resource now" : c.plan.reason);
      continue;
    }
    candidates.push({ kind: "blueprint", id: bp.blueprintId, outcome: "chosen", reason: "builds a new resource" });
    for (const other of shared) skipResource(other.resource, "has leases: building a new resource first");
    return done({ kind: "allocate", blueprintId: bp.blueprintId, limitSlot, plan: c.plan }, `build a new resource from ${bp.name}`);
  }

  // 5. Share a resource that already has leases.
  const firstShared = shared[0];
  if (firstShared) return acquire(firstShared, `shared: ${firstShared.resource.liveLeases}/${firstShared.resource.leaseSlots} slots in use`);

  // 6. Reclaim an idle resource that does not fit this lease, to make room under the limit.
  const idle = view.resources
    .filter((rc) => usableIds.has(rc.resource.blueprintId) && rc.resource.status === "active" && rc.resource.liveLeases === 0 && !heldAt(rc, view.now))
    .filter((rc) => rc.idleSince !== null && view.now.getTime() - rc.idleSince.getTime() >= view.reclaimIdleMs)
    .sort((a, b) => a.idleSince!.getTime() - b.idleSince!.getTime() || (a.resource.resourceId < b.resource.resourceId ? -1 : 1));
  const victim = idle[0];
  if (victim) {
    candidates.push({ kind: "resource", id: victim.resource.resourceId, blueprintId: victim.resource.blueprintId, outcome: "chosen", reason: "idle: reclaim it" });
    return done(
      { kind: "reclaim", resourceId: victim.resource.resourceId, blueprintId: victim.resource.blueprintId },
      `reclaim idle resource ${victim.resource.resourceId}`,
    );
  }

  // 7. Wait. With no resource that could free a slot and nothing buildable but for a config
  // error, the config error is what the lease waits for: say it as itself, first.
  const busy = view.resources.filter((rc) => usableIds.has(rc.resource.blueprintId)).length;
  if (busy === 0 && misconfigured.length > 0 && misconfigured.length === limits.length) {
    const reason = `configuration error: ${[...misconfigured, ...misconfiguredBlueprints].join("; ")}`;
    return done({ kind: "wait", reason, cause: "configuration" }, "waiting: configuration error");
  }
  const reason = [`${busy} matching resource${busy === 1 ? "" : "s"} busy or unsuitable`, ...held, ...recycled, ...limits, ...misconfiguredBlueprints].join("; ");
  return done({ kind: "wait", reason, cause: "capacity" }, `waiting: ${reason}`);
}

/** The candidate's hold if it still holds at `now` (one past its end no longer counts, released or not). */
function heldAt(rc: ResourceCandidate, now: Date): { reason: string; until: string | null; by: string } | null {
  const hold = rc.hold;
  if (!hold || (hold.until !== null && hold.until.getTime() <= now.getTime())) return null;
  return { reason: hold.reason, until: hold.until?.toISOString() ?? null, by: hold.by };
}
