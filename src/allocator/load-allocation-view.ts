import { sql, type Kysely } from "kysely";
import { misconfigured, no, yes, type BlueprintView, type LeaseView, type Verdict } from "../blueprints/blueprint";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import { blueprintViewOf, leaseViewOf, resourceViewOf } from "../blueprints/blueprint-views";
import type { DrydockDatabase } from "../store/schema";
import type { AllocationView, BlueprintCandidate, ResourceCandidate } from "./decide-allocation";
import type { QueuedAllocationView } from "./decide-in-queue";
import type { LeaseQuotaOfLease } from "../domain/lease-quota";
import { liveLeaseCounts } from "../queries/live-lease-counts";
import { idleSinceOf, resourceLoads } from "../queries/resource-load";
import { isHoldLock, leaseUsePrefix, quotaOfTypePrefix, quotaPrefix, slotNumberOf } from "./slot-keys";
import { leasesServed } from "../queries/leases-served";
import { poolPolicyOfRow, recycleReason } from "../domain/pool-policy";

/**
 * Reads the capacity view for one lease from the projections and asks each blueprint its pure
 * questions, so decideAllocation can stay pure. The view may be stale by the time the decision is
 * appended; the slot locks catch that, and the worker decides again.
 */
/** Where a lease stands in the queue (LeaseRequested's priority, and its request time). */
export interface QueuePlace {
  priority: number;
  requestedAt: Date;
  /** The quota the lease carries (LeaseRequested.quota); null: none. */
  quota: LeaseQuotaOfLease | null;
}

/** Leases ahead of one in the queue that the view includes, at most (a longer queue: the first ones). */
const AHEAD_LIMIT = 50;

type AllocatingLease = LeaseView & { blueprintIds: string[] | null };

export async function loadAllocationView(
  db: Kysely<DrydockDatabase>,
  registry: BlueprintRegistry,
  lease: AllocatingLease,
  now: Date,
  reclaimIdleMs: number,
  place?: QueuePlace,
): Promise<QueuedAllocationView> {
  const blueprintRows = await db.selectFrom("blueprints").selectAll().where("resource_type", "=", lease.resourceType).execute();
  const known = blueprintRows.filter((row) => registry.has(row.kind));
  const ids = known.map((b) => b.blueprint_id);
  // Ended resources that are not destroyed yet still hold their slot locks (one per host, say):
  // blueprints see them in `existing` so they do not plan a resource that would collide.
  const undestroyed = ids.length
    ? await db.selectFrom("resources").selectAll().where("blueprint_id", "in", ids).where("status", "in", ["pending", "active", "released", "broken"]).execute()
    : [];
  const resourceRows = undestroyed.filter((r) => r.status === "pending" || r.status === "active");
  // Every lock of these blueprints and resources, by the indexed scope (not one LIKE per resource).
  // And the owner's quota numbers when the lease carries a quota (scope: the owner's name).
  const scopes = [...ids, ...resourceRows.map((r) => r.resource_id), ...(place?.quota ? [lease.owner] : [])];
  const locks = scopes.length
    ? await db.selectFrom("slot_locks").select(["lock_key", "owner_stream_id"]).where(sql<boolean>`scope_id = any(${scopes}::text[])`).execute()
    : [];
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
  // Only idle resources can be reclaimed: look up when their last lease ended only for them.
  const idle = resourceRows.filter((r) => r.status === "active" && slotsOf(`resource:${r.resource_id}:slot:`).length === 0);
  const loads = await resourceLoads(db, idle.map((r) => r.resource_id));
  // Leases served count only where a blueprint limits them (maxLeasesPerResource): none, no read.
  const countServed = new Set(known.filter((b) => b.max_leases_per_resource !== null).map((b) => b.blueprint_id));
  const served = await leasesServed(db, resourceRows.filter((r) => countServed.has(r.blueprint_id)).map((r) => r.resource_id));
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
        idleSince: idleSinceOf(row.status, row.activated_at, loads.get(row.resource_id) ?? { liveLeases: 0, lastLeaseEndedAt: null }),
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

  const aheadRows = place ? await leasesAhead(db, lease, place) : [];
  const clients = [...new Set([lease.authorizingObject, ...aheadRows.map((r) => r.authorizing_object)].filter((c): c is string => c !== null))];
  const authorizedFor = await authorizationVerdicts(db, clients);
  // Live lease counts only for owners whose leases carry a quota: none, no read.
  const quotaOwners = [...(place?.quota ? [lease.owner] : []), ...aheadRows.filter((r) => r.lease_quota).map((r) => r.owner)];
  const live = await liveLeaseCounts(db, quotaOwners, lease.resourceType);
  /** The view with its lease's quota; `taken`: the owner's quota numbers, for the lease that may take one. */
  const withQuota = (view: AllocationView, owner: string, quota: LeaseQuotaOfLease | null, taken?: { all: number[]; ofType: number[] }): AllocationView =>
    quota ? { ...view, quota: { quota, live: live.get(owner) ?? { total: 0, ofType: 0 }, ...(taken ? { taken } : {}) } } : view;
  // Only the number after the prefix: a type may hold a colon ("a" must not read "a:b"'s numbers).
  const numbers = (prefix: string) => locks.filter((l) => l.lock_key.startsWith(prefix) && /^\d+$/.test(l.lock_key.slice(prefix.length))).map((l) => slotNumberOf(l.lock_key));
  const taken = { all: numbers(quotaPrefix(lease.owner)), ofType: numbers(quotaOfTypePrefix(lease.owner, lease.resourceType)) };
  return {
    ...withQuota(viewFor(lease, authorizedFor(lease.authorizingObject ?? null)), lease.owner, place?.quota ?? null, taken),
    ahead: aheadRows.map((row) => {
      const subject = { ...leaseViewOf(row), blueprintIds: row.blueprint_ids as string[] | null };
      return { leaseId: row.lease_id, view: withQuota(viewFor(subject, authorizedFor(row.authorizing_object)), row.owner, row.lease_quota) };
    }),
  };
}

/**
 * Pending leases of the same type ahead of this one: higher priority, or the same and asked
 * earlier (ids break ties). Leases backing off after a failure of their own (failures > 0) are
 * left out: they are not waiting for capacity, and holding capacity back for them until their
 * retry would idle it. Held leases (a working copy's host) queue like any other.
 */
async function leasesAhead(db: Kysely<DrydockDatabase>, lease: AllocatingLease, place: QueuePlace) {
  return db
    .selectFrom("leases")
    .select(["lease_id", "resource_type", "attributes", "owner", "owner_resource_id", "authorizing_object", "blueprint_ids", "lease_quota"])
    .where("status", "=", "pending")
    .where("resource_type", "=", lease.resourceType)
    .where("lease_id", "!=", lease.leaseId)
    .where("failures", "=", 0)
    .where(sql<boolean>`(priority > ${place.priority} OR (priority = ${place.priority} AND (requested_at, lease_id) < (${place.requestedAt}, ${lease.leaseId})))`)
    .orderBy("priority", "desc")
    .orderBy("requested_at")
    .orderBy("lease_id")
    .limit(AHEAD_LIMIT)
    .execute();
}

/**
 * The authorization verdicts per blueprint, per authorizing object: only blueprints it holds an
 * approved authorization for. A lease without one (an admin's) may use every blueprint. One read
 * for the lease deciding and every lease ahead of it.
 */
async function authorizationVerdicts(db: Kysely<DrydockDatabase>, clients: readonly string[]): Promise<(client: string | null) => (blueprintId: string) => Verdict> {
  const rows = clients.length
    ? await db.selectFrom("authorizations").select(["client", "blueprint_id"]).where("client", "in", [...clients]).where("state", "=", "approved").execute()
    : [];
  return (client) => {
    if (client === null) return () => yes;
    const approved = new Set(rows.filter((r) => r.client === client).map((r) => r.blueprint_id));
    const refused = no(`not authorized for ${client}`);
    return (blueprintId) => (approved.has(blueprintId) ? yes : refused);
  };
}
