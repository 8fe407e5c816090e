import { streamIdOf } from "../../../events/envelope";
import { blueprintViewOf, leaseViewOfState, loadResourceView } from "../../blueprints/blueprint-views";
import type { LeaseState } from "../../machines/fold";
import { loadLease, loadResource } from "./load-state";
import { failureHoldEvent } from "./resource-hold-steps";
import { reacquireOrBreak } from "./reacquire";
import { failureOutcome } from "./record-failure";
import { workerMetadata, type WorkerContext } from "../worker-context";

/** How long an acquired lease waits for its pending resource before looking again unwoken. */
const RESOURCE_WAIT_MS = 30_000;

/**
 * An acquired lease becomes active once its resource is active and the blueprint has set it up.
 * If the resource ended first, the lease goes back to pending and lands elsewhere.
 */
export async function activateLease(ctx: WorkerContext, lease: LeaseState, recheck = true): Promise<void> {
  const c = lease.context;
  const stream = streamIdOf("lease", c.leaseId);
  const meta = workerMetadata(ctx, c.leaseId);
  const resource = await ctx.db.selectFrom("resources").selectAll().where("resource_id", "=", c.resourceId!).executeTakeFirstOrThrow();

  if (resource.status === "pending") {
    const retry = new Date(ctx.clock.now().getTime() + RESOURCE_WAIT_MS).toISOString();
    await ctx.store.append(stream, lease.version, [{ type: "LeaseWaiting", data: { reason: `waiting for resource ${resource.resource_id} to activate`, retryAt: retry, blueprintIds: [resource.blueprint_id] } }], meta);
    // If the resource activated while we decided to wait, its wake-up was overwritten by our
    // wait: look again now that the wait is committed (see allocateLease). FOR SHARE waits out an
    // activation still in flight (it holds the resource row), whose wake-up ran before our wait.
    const now = await ctx.db.selectFrom("resources").select("status").where("resource_id", "=", resource.resource_id).forShare().executeTakeFirstOrThrow();
    if (recheck && now.status !== "pending") return activateLease(ctx, await loadLease(ctx, c.leaseId), false);
    return;
  }
  if (resource.status !== "active") {
    const why = `resource ${resource.resource_id} is ${resource.status}${resource.end_reason ? `: ${resource.end_reason}` : ""}`;
    await ctx.store.append(stream, lease.version, [reacquireOrBreak(lease, resource.resource_id, why)], meta);
    return;
  }

  const blueprint = await ctx.db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", resource.blueprint_id).executeTakeFirstOrThrow();
  const impl = ctx.registry.get(blueprint.kind);
  // Held until the activation is stored: an inline activation's undo for this lease, still in
  // flight, must not remove what this one makes (lease-activations.ts).
  const held = await ctx.leaseActivations.hold(c.leaseId);
  try {
    const { workingDirectory } = await impl.activateLease(blueprintViewOf(blueprint, ctx.registry), await loadResourceView(ctx.db, resource), leaseViewOfState(lease), ctx.effects);
    await ctx.store.append(stream, lease.version, [{ type: "LeaseActivated", data: { workingDirectory } }], meta);
  } catch (error) {
    const { failure, retryAt } = failureOutcome(ctx, error, c.failures);
    if (failure.scope) {
      // The host failed, not this lease: it counts against the resource at once (suspect, or
      // broken), and the lease goes back to pending to land on a host that works.
      await ctx.effects.reportResourceFailure(resource.resource_id, { ...failure.scope, code: failure.code, message: failure.message });
      await ctx.store.append(stream, lease.version, [reacquireOrBreak(lease, resource.resource_id, `its host failed: ${failure.message}`)], meta);
      return;
    }
    const summary = { code: failure.code, message: failure.message };
    if (failure.kind === "permanent") {
      const broken = { streamId: stream, expectedVersion: lease.version, events: [{ type: "LeaseBroken", data: { reason: `activation failed: ${failure.message}`, error: summary } }] };
      // The lease's own setup failed for good on an active resource: its holdOnFailure keeps the
      // resource as it is (no new lease), in the same append as the break.
      const held = await loadResource(ctx, resource.resource_id);
      const hold = held.status === "active" ? failureHoldEvent(held, lease, `activation failed: ${failure.message}`, ctx.clock.now()) : null;
      await ctx.store.appendMany(hold ? [broken, { streamId: streamIdOf("resource", resource.resource_id), expectedVersion: held.version, events: [hold] }] : [broken], meta);
      return;
    }
    await ctx.store.append(
      stream,
      lease.version,
      [{ type: "LeaseYielded", data: { reason: `activation failed, will retry: ${failure.message}`, retryAt, attempt: c.failures + 1, error: summary } }],
      meta,
    );
  } finally {
    held();
  }
}
