import { streamIdOf, type EventMetadata } from "../../../events/envelope";
import { VersionConflictError } from "../../domain/errors";
import { blueprintViewOf, loadResourceView } from "../../blueprints/blueprint-views";
import type { ResourceState } from "../../machines/fold";
import type { Selectable } from "kysely";
import type { ClassifiedFailure } from "../../blueprints/failures";
import type { BlueprintsTable } from "../../store/schema";
import { failureOutcome } from "./record-failure";
import { loadResource } from "./load-state";
import type { FailingTarget } from "../../machines/blueprint-machine";
import type { StreamAppend } from "../../store/event-store";
import { targetFailedAppend } from "../resource-failures";
import { workerMetadata, type WorkerContext } from "../worker-context";

/** How long a resource waits for its held leases before looking again unwoken. */
const HELD_LEASE_WAIT_MS = 60_000;

/**
 * A pending resource becomes active once every lease it holds is active and the blueprint has
 * built it. A held lease that ended breaks the resource: it cannot be built without it.
 */
export async function activateResource(ctx: WorkerContext, resource: ResourceState, recheck = true): Promise<void> {
  const c = resource.context;
  const stream = streamIdOf("resource", c.resourceId);
  const meta = workerMetadata(ctx, c.forLeaseId ?? c.resourceId);

  const held = await ctx.db.selectFrom("leases").select(["lease_id", "status", "end_reason"]).where("owner_resource_id", "=", c.resourceId).execute();
  const ended = held.find((l) => l.status !== "pending" && l.status !== "acquired" && l.status !== "active");
  if (ended) {
    await ctx.store.append(stream, resource.version, [{ type: "ResourceBroken", data: { reason: `its lease ${ended.lease_id} is ${ended.status}: ${ended.end_reason ?? ""}`.trim(), error: null } }], meta);
    return;
  }
  const waiting = held.filter((l) => l.status !== "active");
  if (waiting.length > 0) {
    const retryAt = new Date(ctx.clock.now().getTime() + HELD_LEASE_WAIT_MS).toISOString();
    await ctx.store.append(stream, resource.version, [{ type: "ResourceActivationYielded", data: { reason: `waiting for its lease ${waiting.map((l) => l.lease_id).join(", ")} to activate`, retryAt, attempt: Math.max(1, c.failures) } }], meta);
    // A held lease that activated while we decided to wait woke our work item before the wait
    // was stored (it was still due, claimed by this step), and the wait then put it off for a
    // minute: look again now that the wait is committed, as activateLease does. FOR SHARE waits
    // out an activation still in flight (it holds the lease's row).
    if (!recheck) return;
    const now = await ctx.db.selectFrom("leases").select("status").where("lease_id", "in", waiting.map((l) => l.lease_id)).forShare().execute();
    if (now.some((l) => l.status !== "pending" && l.status !== "acquired")) return activateResource(ctx, await loadResource(ctx, c.resourceId), false);
    return;
  }

  const row = await ctx.db.selectFrom("resources").selectAll().where("resource_id", "=", c.resourceId).executeTakeFirstOrThrow();
  const blueprint = await ctx.db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", c.blueprintId).executeTakeFirstOrThrow();
  const impl = ctx.registry.get(blueprint.kind);
  const view = await loadResourceView(ctx.db, row);
  try {
    const attributes = await impl.activateResource(blueprintViewOf(blueprint, ctx.registry), view, ctx.effects);
    const appends: StreamAppend[] = [{ streamId: stream, expectedVersion: resource.version, events: [{ type: "ResourceActivated", data: { attributes } }] }];
    // The target works again (fixed outside Drydock, after its retry time): the record goes.
    const target = impl.targetOf?.(view) ?? null;
    if (target !== null && (blueprint.failing_targets as FailingTarget[]).some((f) => f.target === target)) {
      appends.push({ streamId: streamIdOf("blueprint", blueprint.blueprint_id), expectedVersion: blueprint.version, events: [{ type: "BlueprintTargetRecovered", data: { target } }] });
    }
    await appendUnlessBlueprintMoved(ctx, appends, meta, blueprint.blueprint_id);
  } catch (error) {
    const { failure, retryAt } = failureOutcome(ctx, error, c.failures);
    if (failure.shortage) {
      await appendUnlessBlueprintMoved(ctx, await shortageAppends(ctx, resource, blueprint, failure), meta, blueprint.blueprint_id);
      return;
    }
    const appends: StreamAppend[] = [
      {
        streamId: stream,
        expectedVersion: resource.version,
        events:
          failure.kind === "permanent"
            ? [{ type: "ResourceBroken", data: { reason: `activation failed: ${failure.message}`, error: { code: failure.code, message: failure.message } } }]
            : [{ type: "ResourceActivationYielded", data: { reason: `activation failed, will retry: ${failure.message}`, retryAt, attempt: c.failures + 1 } }],
      },
    ];
    // A configuration error: the blueprint records it, so the next lease does not hit the same wall.
    if (failure.kind === "permanent" && failure.scope?.configuration) {
      appends.push(targetFailedAppend(ctx.registry, blueprint, { ...failure.scope, code: failure.code, message: failure.message }, ctx.clock.now()));
    }
    await appendUnlessBlueprintMoved(ctx, appends, meta, blueprint.blueprint_id);
  }
}

/**
 * Appends an outcome that carries the blueprint's record of a target (failed, recovered). When the
 * blueprint moved while the activation ran (an operator's update, another step's record), that
 * record and the outcome were made over a config that is no longer the blueprint's: the append
 * rolls back whole, nothing is recorded, and the step runs again over the blueprint as it is now,
 * which may be the fix. That is a race lost, not a failure: no error and no retry delay.
 */
async function appendUnlessBlueprintMoved(ctx: WorkerContext, appends: StreamAppend[], meta: EventMetadata, blueprintId: string): Promise<void> {
  try {
    await ctx.store.appendMany(appends, meta);
  } catch (error) {
    if (error instanceof VersionConflictError && error.details?.streamId === streamIdOf("blueprint", blueprintId)) return;
    throw error;
  }
}

/**
 * The provider had nothing to build this resource with (a CapacityShortage): nothing was built, so
 * the resource's build ends (broken, with the provider's code), every lease acquired on it goes
 * back to pending at once to land on another blueprint, and the blueprint records the shortage so
 * that no lease builds there again before it is due (planResource says so). All in one append: a
 * lease that moved meanwhile makes it conflict, and the step runs again over fresh rows.
 */
async function shortageAppends(ctx: WorkerContext, resource: ResourceState, blueprint: Selectable<BlueprintsTable>, failure: ClassifiedFailure): Promise<StreamAppend[]> {
  const c = resource.context;
  const reason = `no capacity to build it: ${failure.message}`;
  const leases = await ctx.db.selectFrom("leases").select(["lease_id", "version"]).where("resource_id", "=", c.resourceId).where("status", "=", "acquired").execute();
  const appends: StreamAppend[] = [
    { streamId: streamIdOf("resource", c.resourceId), expectedVersion: resource.version, events: [{ type: "ResourceBroken", data: { reason, error: { code: failure.code, message: failure.message } } }] },
    ...leases.map((l): StreamAppend => ({
      streamId: streamIdOf("lease", l.lease_id),
      expectedVersion: l.version,
      events: [{ type: "LeaseReacquiring", data: { resourceId: c.resourceId, reason: `its resource ${c.resourceId} could not be built, ${reason}`, shortage: true } }],
    })),
  ];
  if (failure.scope) {
    const report = { ...failure.scope, code: failure.code, message: failure.message };
    appends.push(targetFailedAppend(ctx.registry, blueprint, report, ctx.clock.now(), { retryAfterMs: failure.retryAfterMs ?? 0 }));
  }
  return appends;
}
