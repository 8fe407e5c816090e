import { streamIdOf } from "../../../events/envelope";
import { NotFoundError } from "../../domain/errors";
import { leaseFolder, resourceFolder, type LeaseState, type ResourceState } from "../../machines/fold";
import type { WorkerContext } from "../worker-context";

/** The current state of a stream, folded from its events through its machine. */
export async function loadLease(ctx: Pick<WorkerContext, "store">, leaseId: string): Promise<LeaseState> {
  const events = await ctx.store.readStream(streamIdOf("lease", leaseId));
  if (events.length === 0) throw new NotFoundError("lease", leaseId);
  return leaseFolder.fold(events).state;
}

export async function loadResource(ctx: Pick<WorkerContext, "store">, resourceId: string): Promise<ResourceState> {
  const events = await ctx.store.readStream(streamIdOf("resource", resourceId));
  if (events.length === 0) throw new NotFoundError("resource", resourceId);
  return resourceFolder.fold(events).state;
}
