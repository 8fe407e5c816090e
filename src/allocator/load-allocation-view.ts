import type { Kysely } from "kysely";
import { misconfigured, no, yes, type BlueprintView, type LeaseView, type Verdict } from "../blueprints/blueprint";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import { blueprintViewOf, leaseViewOf, resourceViewOf } from "../blueprints/blueprint-views";
import type { DrydockDatabase } from "../store/schema";
import type { AllocationView, BlueprintCandidate, ResourceCandidate } from "./decide-allocation";
import type { QueuedAllocationView } from "./decide-in-queue";
import type { LeaseQuotaOfLease } from "../domain/lease-quota";
import { idleSinceOf } from "../queries/resource-load";
import { isHoldLock, leaseUsePrefix, quotaOfTypePrefix, quotaPrefix, slotNumberOf } from "./slot-keys";
import { poolPolicyOfRow, recycleReason } from "../domain/pool-policy";
import { readAllocationSnapshot, type AllocationSnapshot, type QueuePlace } from "./allocation-snapshot";

export type { QueuePlace } from "./allocation-snapshot";

/**
 * Reads the capacity view for one lease from the projections (one statement: allocation-snapshot.ts)
 * and asks each blueprint its pure questions, so decideAllocation can stay pure. The view may be
 * stale by the time the decision is appended; the slot locks catch that, and the worker decides again.
 */
type AllocatingLease = LeaseView & { blueprintIds: string[] | null };

export async function loadAllocationView(
  db: Kysely<DrydockDatabase>,
  registry: BlueprintRegistry,
  lease: AllocatingLease,
  now: Date,
  reclaimIdleMs: number,
  place?: QueuePlace,
  /** Read already for this lease at this place (the fast path's request: prepareLeaseRequest). */
  read?: AllocationSnapshot,
): Promise<QueuedAllocationView & Pick<AllocationSnapshot, "readStartedAt">> {
  const snapshot =
    read ??
    (await readAllocationSnapshot(db, {
      resourceType: lease.resourceType,
      kinds: registry.kinds(),
      lease: { leaseId: lease.leaseId, owner: lease.owner, authorizingObject: lease.authorizingObject ?? null },
      ...(place ? { place } : {}),
    }));
  const known = snapshot.blueprints;
  // Ended resources that are not destroyed yet still hold their slot locks (one per host, say):
  // blueprints see them in `existing` so they do not plan a resource that would collide.
  const undestroyed = snapshot.undestroyed;
  const resourceRows = undestroyed.filter((r) => r.status === "pending" || r.status === "active");
  const locks = snapshot.locks;
  // A held resource's free slots are its hold's (isHoldLock): the resource is skipped for the
  // hold, and its slots in use are its leases' alone.
  const slotsOf = (prefix: string) => locks.filter((l) => l.lock_key.startsWith(prefix) && !isHoldLock(l)).map((l) => slotNumberOf(l.lock_key));

  // Blueprint views, once for every lease the view asks about.
  const views = new Map<string, BlueprintView | Error>();
  for (const row of known) {
    try {
      const view = blueprintViewOf(row, registry);
      // A failing target is retried once its retryAt has passed: the record stays (with its count
      // of failures in a row, for the next backoff) but stops blocking.
      views.set(row.blueprint_id, { ...view, failingTargets: view.failingTargets.filter((f) => new Date(f.retryAt) > now) });
    } catch (error) {
      views.set(row.blueprint_id, error as Error);
    }
  }
  // Only idle resources can be reclaimed: the snapshot has the loads of those alone (the same
  // test in SQL); a busy one is read as before, with no load.
  const idle = new Set(resourceRows.filter((r) => r.status === "active" && slotsOf(`resource:${r.resource_id}:slot:`).length === 0).map((r) => r.resource_id));
  const loadOf = (resourceId: string) => (idle.has(resourceId) ? snapshot.loads.get(resourceId) : undefined);
  // Leases served count only where a blueprint limits them (maxLeasesPerResource).
  const countServed = new Set(known.filter((b) => b.max_leases_per_resource !== null).map((b) => b.blueprint_id));
  const served = snapshot.served;
  const policyOf = new Map(known.map((b) => [b.blueprint_id, poolPolicyOfRow(b)]));
  // The leases a resource served: its use numbers taken (permanent, so never fewer than before),
  // or its leases' rows where they say more (leases served before the policy took numbers).
  const servedOf = (resourceId: string) => Math.max(served.get(resourceId) ?? 0, ...slotsOf(leaseUsePrefix(resourceId)));

  // What does not depend on which lease asks, read once for the lease deciding and every lease
  // ahead of it: each blueprint's resources not yet destroyed, each candidate resource.
  const existingOf = new Map(known.map((row) => [row.blueprint_id, undestroyed.filter((r) => r.blueprint_id === row.blueprint_id).map((r) => resourceViewOf(r, slotsOf(`resource:${r.resource_id}:slot:`).length))]));
  const candidates = resourceRows.flatMap((row) => {
    const blueprint = views.get(row.blueprint_id);
    if (!blueprint || blueprint instanceof Error) return [];
    const usedSlots = slotsOf(`resource:${row.resource_id}:slot:`);
    return [
      {
        blueprint,
        impl: registry.get(blueprint.kind),
        resource: resourceViewOf(row, usedSlots.length),
        usedSlots,
        idleSince: idleSinceOf(row.status, row.activated_at, loadOf(row.resource_id) ?? { liveLeases: 0, lastLeaseEndedAt: null }),
        hold: row.hold_reason === null ? null : { reason: row.hold_reason, until: row.hold_until, by: row.hold_by ?? "" },
        recycled: recycleReason(policyOf.get(row.blueprint_id)!, { leasesServed: servedOf(row.resource_id), activatedAt: row.activated_at ? new Date(row.activated_at) : null }, now),
        nextUse: countServed.has(row.blueprint_id) ? servedOf(row.resource_id) + 1 : null,
      },
    ];
  });

  /** One lease's verdicts over this capacity: the lease deciding, or one ahead of it. */
  const viewFor = (subject: AllocatingLease, authorizedFor: (blueprintId: string) => Verdict): AllocationView => {
    const blueprints: BlueprintCandidate[] = [];
    for (const row of known) {
      const view = views.get(row.blueprint_id)!;
      const impl = registry.get(row.kind);
      if (view instanceof Error) {
        const reason = `its config is invalid: ${view.message}`;
        blueprints.push({
          blueprint: { blueprintId: row.blueprint_id, name: row.name, kind: row.kind, resourceType: row.resource_type, config: {}, resourceLimit: row.resource_limit, enabled: row.enabled, liveResources: row.live_resources, failingTargets: [] },
          ever: misconfigured(reason),
          plan: misconfigured(reason),
          usedLimitSlots: [],
          authorized: authorizedFor(row.blueprint_id),
        });
        continue;
      }
      blueprints.push({
        blueprint: view,
        ever: impl.canEverAllocate(view, subject),
        plan: impl.planResource(view, subject, existingOf.get(row.blueprint_id)!),
        usedLimitSlots: slotsOf(`blueprint:${row.blueprint_id}:limit:`),
        authorized: authorizedFor(row.blueprint_id),
      });
    }
    const resources = candidates.map(({ blueprint, impl, resource, usedSlots, idleSince, hold, recycled, nextUse }): ResourceCandidate => ({
      resource,
      acquire: impl.canAcquire(blueprint, resource, subject),
      supplemental: impl.shouldAllocateSupplemental(blueprint, resource, subject),
      usedSlots,
      idleSince,
      hold,
      recycled,
      nextUse,
    }));
    return { lease: subject, blueprints, resources, now, reclaimIdleMs };
  };

  const aheadRows = snapshot.ahead;
  const authorizedFor = authorizationVerdicts(snapshot.approved);
  // Live lease counts of owners whose leases carry a quota (the snapshot read those alone).
  const live = snapshot.live;
  /** The view with its lease's quota; `taken`: the owner's quota numbers, for the lease that may take one. */
  const withQuota = (view: AllocationView, owner: string, quota: LeaseQuotaOfLease | null, taken?: { all: number[]; ofType: number[] }): AllocationView =>
    quota ? { ...view, quota: { quota, live: live.get(owner) ?? { total: 0, ofType: 0 }, ...(taken ? { taken } : {}) } } : view;
  // Only the number after the prefix: a type may hold a colon ("a" must not read "a:b"'s numbers).
  const numbers = (prefix: string) => locks.filter((l) => l.lock_key.startsWith(prefix) && /^\d+$/.test(l.lock_key.slice(prefix.length))).map((l) => slotNumberOf(l.lock_key));
  const taken = { all: numbers(quotaPrefix(lease.owner)), ofType: numbers(quotaOfTypePrefix(lease.owner, lease.resourceType)) };
  return {
    // When its rows were read: what this instance committed since, they may not show (slots-in-flight.ts).
    readStartedAt: snapshot.readStartedAt,
    ...withQuota(viewFor(lease, authorizedFor(lease.authorizingObject ?? null)), lease.owner, place?.quota ?? null, taken),
    ahead: aheadRows.map((row) => {
      const subject = { ...leaseViewOf(row), blueprintIds: row.blueprint_ids as string[] | null };
      return { leaseId: row.lease_id, view: withQuota(viewFor(subject, authorizedFor(row.authorizing_object)), row.owner, row.lease_quota) };
    }),
  };
}

/**
 * The authorization verdicts per blueprint, per authorizing object: only blueprints it holds an
 * approved authorization for. A lease without one (an admin's) may use every blueprint. Read in
 * the snapshot for the lease deciding and every lease ahead of it.
 */
function authorizationVerdicts(rows: readonly { client: string; blueprint_id: string }[]): (client: string | null) => (blueprintId: string) => Verdict {
  return (client) => {
    if (client === null) return () => yes;
    const approved = new Set(rows.filter((r) => r.client === client).map((r) => r.blueprint_id));
    const refused = no(`not authorized for ${client}`);
    return (blueprintId) => (approved.has(blueprintId) ? yes : refused);
  };
}
