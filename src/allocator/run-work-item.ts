import { parseStreamId, streamIdOf } from "../../events/envelope";
import { assertNever, VersionConflictError } from "../domain/errors";
import { activateLease } from "./steps/activate-lease";
import { activateResource } from "./steps/activate-resource";
import { allocateLease } from "./steps/allocate-lease";
import { destroyLease } from "./steps/destroy-lease";
import { destroyResource } from "./steps/destroy-resource";
import { loadLease, loadResource } from "./steps/load-state";
import { endExpiredHold } from "./steps/resource-hold-steps";
import { maintainPool } from "./steps/maintain-pool";
import { workerMetadata, type WorkerContext } from "./worker-context";
import type { AllocationSnapshot } from "./allocation-snapshot";

/**
 * Runs the next step for one stream. The step is chosen from the stream's folded state, not
 * from the work item's kind, so a stale item can never run a step the machine would refuse.
 * `requestSnapshot`: the capacity view a lease's request was checked against, for its first
 * allocation (the fast path: AllocatorWorker.runClaimedSteps).
 */
export async function runWorkItem(ctx: WorkerContext, streamId: string, requestSnapshot?: AllocationSnapshot): Promise<void> {
  const { type, id } = parseStreamId(streamId);
  try {
    switch (type) {
      case "lease":
        return await runLeaseStep(ctx, id, requestSnapshot);
      case "resource":
        return await runResourceStep(ctx, id);
      case "blueprint":
        // Only a blueprint with a pool policy has an item (projections/work-schedule.ts).
        return await maintainPool(ctx, id);
      case "token":
      case "authorization":
        // Nothing to run: these streams change only by API commands, never by a worker.
        return;
      default:
        assertNever(type, "stream type");
    }
  } catch (error) {
    // The stream moved while this step ran (its client released it, another worker took its
    // next step): the step's append was rolled back whole, and the new state has its own item.
    if (error instanceof VersionConflictError && error.details?.streamId === streamId) return;
    throw error;
  }
}

async function runLeaseStep(ctx: WorkerContext, leaseId: string, requestSnapshot?: AllocationSnapshot): Promise<void> {
  const lease = await loadLease(ctx, leaseId);
  const now = ctx.clock.now();
  const live = lease.status === "pending" || lease.status === "acquired" || lease.status === "active";
  if (live && lease.context.expiresAt && new Date(lease.context.expiresAt) <= now) {
    await ctx.store.append(
      streamIdOf("lease", leaseId),
      lease.version,
      [{ type: "LeaseReleased", data: { reason: "expired", detail: `its TTL ended at ${lease.context.expiresAt}` } }],
      workerMetadata(ctx, leaseId),
    );
    return;
  }
  switch (lease.status) {
    case "pending":
      return allocateLease(ctx, lease, true, requestSnapshot);
    case "acquired":
      return activateLease(ctx, lease);
    case "released":
    case "broken":
      return destroyLease(ctx, lease);
    case "active":
    case "new":
    case "destroyed":
      return;
    default:
      assertNever(lease.status, "lease status");
  }
}

async function runResourceStep(ctx: WorkerContext, resourceId: string): Promise<void> {
  const resource = await loadResource(ctx, resourceId);
  // A hold whose time is up ends first (its item was due at `until`); the event reschedules the rest.
  if (resource.status !== "new" && resource.status !== "destroyed" && (await endExpiredHold(ctx, resource))) return;
  switch (resource.status) {
    case "pending":
      return activateResource(ctx, resource);
    case "released":
    case "broken":
      return destroyResource(ctx, resource);
    case "active":
    case "new":
    case "destroyed":
      return;
    default:
      assertNever(resource.status, "resource status");
  }
}
