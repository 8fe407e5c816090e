import { streamIdOf } from "../../events/envelope";
import { leaseSlotKey } from "../allocator/slot-keys";
import { CapacityConflictError, NotFoundError, TransitionRefusedError, ValidationError } from "../domain/errors";
import { MAX_HOLD_SECONDS } from "../domain/resource-hold";
import { resourceFolder } from "../machines/fold";
import { commandOnStream, type Actor, type CommandContext } from "./command-context";

/** An operator releases a resource: its leases are let go and it is destroyed (once no hold keeps it). */
export function releaseResource(ctx: CommandContext, resourceId: string, reason: string | null, actor: Actor) {
  return commandOnStream(
    ctx,
    resourceFolder,
    "resource",
    streamIdOf("resource", resourceId),
    resourceId,
    "release",
    () => [{ type: "ResourceReleased", data: { reason: reason ?? `released by ${actor.actor}` } }],
    actor,
  );
}

/** Attempts of a hold whose free slots keep being taken as it is put (each a lease that got there first). */
const HOLD_ATTEMPTS = 8;

/**
 * An admin puts a resource on hold (src/domain/resource-hold.ts): no new lease, no teardown,
 * until released or `untilSeconds` from now. A new hold replaces the current one. The machine
 * refuses a destroyed resource (409 naming its status).
 *
 * A live resource's hold takes its free lease slots (ResourceHeld.locks), so a lease decided on
 * one of them just before the hold loses the slot's race and decides again, seeing the hold:
 * once the hold is stored, no lease lands on the resource. A lease that takes a slot first is
 * before the hold; the hold then takes the slots still free, deciding again.
 */
export async function holdResource(ctx: CommandContext, resourceId: string, hold: { reason: string; untilSeconds?: number }, actor: Actor) {
  const seconds = hold.untilSeconds;
  if (seconds !== undefined && (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_HOLD_SECONDS)) {
    throw new ValidationError(`untilSeconds: must be a whole number between 1 and ${MAX_HOLD_SECONDS}`, { field: "untilSeconds" });
  }
  if (hold.reason.trim() === "") throw new ValidationError("reason: must not be empty", { field: "reason" });
  const until = seconds === undefined ? null : new Date(ctx.clock.now().getTime() + seconds * 1000).toISOString();
  for (let attempt = 1; ; attempt++) {
    const free = await freeLeaseSlots(ctx, resourceId);
    try {
      return await commandOnStream(
        ctx,
        resourceFolder,
        "resource",
        streamIdOf("resource", resourceId),
        resourceId,
        "hold",
        (state) => {
          const live = state.status === "pending" || state.status === "active";
          return [{ type: "ResourceHeld", data: { reason: hold.reason, until, by: actor.actor, leaseId: null, ...(live && free.length > 0 ? { locks: free } : {}) } }];
        },
        actor,
      );
    } catch (error) {
      if (!(error instanceof CapacityConflictError) || attempt >= HOLD_ATTEMPTS) throw error;
    }
  }
}

/** The resource's lease slots no lease (and no hold) has now. */
async function freeLeaseSlots(ctx: CommandContext, resourceId: string): Promise<string[]> {
  const row = await ctx.db.selectFrom("resources").select("lease_slots").where("resource_id", "=", resourceId).executeTakeFirst();
  if (!row) return [];
  const taken = new Set((await ctx.db.selectFrom("slot_locks").select("lock_key").where("scope_id", "=", resourceId).execute()).map((l) => l.lock_key));
  return Array.from({ length: row.lease_slots }, (_, slot) => leaseSlotKey(resourceId, slot)).filter((key) => !taken.has(key));
}

/** An admin releases a resource's hold: it takes leases again, or (ended) is destroyed. 409 if it has none. */
export async function releaseResourceHold(ctx: CommandContext, resourceId: string, reason: string | null, actor: Actor) {
  const streamId = streamIdOf("resource", resourceId);
  // Checked on the stored row, not only this process's last view of it: the hold may be a
  // worker's (holdOnFailure) appended by another process. A view older than the row appends
  // with its old version and conflicts, and the next attempt decides on the row. An expired
  // hold the worker has not released yet still counts as one to release.
  const stored = await ctx.store.loadState(streamId);
  if (!stored) throw new NotFoundError("resource", resourceId);
  const notHeld = (status: string) => new TransitionRefusedError("resource", resourceId, `${status} and not on hold`, "release the hold of");
  if (!(stored.context as { hold?: unknown }).hold) throw notHeld(stored.status);
  return commandOnStream(
    ctx,
    resourceFolder,
    "resource",
    streamId,
    resourceId,
    "release the hold of",
    (state) => {
      if (!state.context.hold && state.version >= stored.version) throw notHeld(state.status);
      return [{ type: "ResourceHoldReleased", data: { reason: reason ?? `released by ${actor.actor}` } }];
    },
    actor,
  );
}
