import { sql, type Kysely } from "kysely";
import { misconfigured, no, yes, type LeaseView, type Verdict } from "../blueprints/blueprint";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import { blueprintViewOf, resourceViewOf } from "../blueprints/blueprint-views";
import type { DrydockDatabase } from "../store/schema";
import type { AllocationView, BlueprintCandidate, ResourceCandidate } from "./decide-allocation";
import { idleSinceOf, resourceLoads } from "../queries/resource-load";
import { slotNumberOf } from "./slot-keys";

/**
 * Reads the capacity view for one lease from the projections and asks each blueprint its pure
 * questions, so decideAllocation can stay pure. The view may be stale by the time the decision is
 * appended; the slot locks catch that, and the worker decides again.
 */
export async function loadAllocationView(
  db: Kysely<DrydockDatabase>,
  registry: BlueprintRegistry,
  lease: LeaseView & { blueprintIds: string[] | null },
  now: Date,
  reclaimIdleMs: number,
): Promise<AllocationView> {
  const blueprintRows = await db.selectFrom("blueprints").selectAll().where("resource_type", "=", lease.resourceType).execute();
  const authorizedFor = await authorizationVerdicts(db, lease.authorizingObject ?? null);
  const known = blueprintRows.filter((row) => registry.has(row.kind));
  const ids = known.map((b) => b.blueprint_id);
  // Ended resources that are not destroyed yet still hold their slot locks (one per host, say):
  // blueprints see them in `existing` so they do not plan a resource that would collide.
  const undestroyed = ids.length
    ? await db.selectFrom("resources").selectAll().where("blueprint_id", "in", ids).where("status", "in", ["pending", "active", "released", "broken"]).execute()
    : [];
  const resourceRows = undestroyed.filter((r) => r.status === "pending" || r.status === "active");
  // Every lock of these blueprints and resources, by the indexed scope (not one LIKE per resource).
  const scopes = [...ids, ...resourceRows.map((r) => r.resource_id)];
  const locks = scopes.length
    ? await db.selectFrom("slot_locks").select("lock_key").where(sql<boolean>`scope_id = any(${scopes}::text[])`).execute()
    : [];
  const slotsOf = (prefix: string) => locks.filter((l) => l.lock_key.startsWith(prefix)).map((l) => slotNumberOf(l.lock_key));

  const blueprints: BlueprintCandidate[] = [];
  const viewsById = new Map<string, ReturnType<typeof blueprintViewOf>>();
  for (const row of known) {
    const impl = registry.get(row.kind);
    let view;
    try {
      view = blueprintViewOf(row, registry);
    } catch (error) {
      const reason = `its config is invalid: ${(error as Error).message}`;
      blueprints.push({
        blueprint: { blueprintId: row.blueprint_id, name: row.name, kind: row.kind, resourceType: row.resource_type, config: {}, resourceLimit: row.resource_limit, enabled: row.enabled, liveResources: row.live_resources, failingTargets: [] },
        ever: misconfigured(reason),
        plan: misconfigured(reason),
        usedLimitSlots: [],
        authorized: authorizedFor(row.blueprint_id),
      });
      continue;
    }
    // A failing target is retried once its retryAt has passed: the record stays (with its count
    // of failures in a row, for the next backoff) but stops blocking.
    view = { ...view, failingTargets: view.failingTargets.filter((f) => new Date(f.retryAt) > now) };
    viewsById.set(row.blueprint_id, view);
    const existing = undestroyed.filter((r) => r.blueprint_id === row.blueprint_id).map((r) => resourceViewOf(r, slotsOf(`resource:${r.resource_id}:slot:`).length));
    blueprints.push({
      blueprint: view,
      ever: impl.canEverAllocate(view, lease),
      plan: impl.planResource(view, lease, existing),
      usedLimitSlots: slotsOf(`blueprint:${row.blueprint_id}:limit:`),
      authorized: authorizedFor(row.blueprint_id),
    });
  }

  // Only idle resources can be reclaimed: look up when their last lease ended only for them.
  const idle = resourceRows.filter((r) => r.status === "active" && slotsOf(`resource:${r.resource_id}:slot:`).length === 0);
  const loads = await resourceLoads(db, idle.map((r) => r.resource_id));
  const resources: ResourceCandidate[] = [];
  for (const row of resourceRows) {
    const blueprint = viewsById.get(row.blueprint_id);
    if (!blueprint) continue;
    const impl = registry.get(blueprint.kind);
    const usedSlots = slotsOf(`resource:${row.resource_id}:slot:`);
    const resource = resourceViewOf(row, usedSlots.length);
    resources.push({
      resource,
      acquire: impl.canAcquire(blueprint, resource, lease),
      supplemental: impl.shouldAllocateSupplemental(blueprint, resource, lease),
      usedSlots,
      idleSince: idleSinceOf(row.status, row.activated_at, loads.get(row.resource_id) ?? { liveLeases: 0, lastLeaseEndedAt: null }),
    });
  }
  return { lease, blueprints, resources, now, reclaimIdleMs };
}

/**
 * The authorization verdict per blueprint for a lease's authorizing object: only blueprints it
 * holds an approved authorization for. A lease without one (an admin's) may use every blueprint.
 */
async function authorizationVerdicts(db: Kysely<DrydockDatabase>, authorizingObject: string | null): Promise<(blueprintId: string) => Verdict> {
  if (authorizingObject === null) return () => yes;
  const rows = await db.selectFrom("authorizations").select("blueprint_id").where("client", "=", authorizingObject).where("state", "=", "approved").execute();
  const approved = new Set(rows.map((r) => r.blueprint_id));
  const refused = no(`not authorized for ${authorizingObject}`);
  return (blueprintId) => (approved.has(blueprintId) ? yes : refused);
}
