import { streamIdOf } from "../../../events/envelope";
import { NotFoundError } from "../../domain/errors";
import type { LeaseState, ResourceState } from "../../machines/fold";
import { asFolded } from "../../store/stream-state";
import type { WorkerContext } from "../worker-context";

/** The current state of a stream: its one row, kept by the store with its version (stream-state.ts). */
export async function loadLease(ctx: Pick<WorkerContext, "store">, leaseId: string): Promise<LeaseState> {
  const state = await ctx.store.loadState(streamIdOf("lease", leaseId));
  if (!state) throw new NotFoundError("lease", leaseId);
  return asFolded(state);
}

export async function loadResource(ctx: Pick<WorkerContext, "store">, resourceId: string): Promise<ResourceState> {
  const state = await ctx.store.loadState(streamIdOf("resource", resourceId));
  if (!state) throw new NotFoundError("resource", resourceId);
  return asFolded(state);
}
