import { streamIdOf } from "../../events/envelope";
import { NotFoundError, TransitionRefusedError, ValidationError } from "../domain/errors";
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

/**
 * An admin puts a resource on hold (src/domain/resource-hold.ts): no new lease, no teardown,
 * until released or `untilSeconds` from now. A new hold replaces the current one. The machine
 * refuses a destroyed resource (409 naming its status).
 */
export function holdResource(ctx: CommandContext, resourceId: string, hold: { reason: string; untilSeconds?: number }, actor: Actor) {
  const seconds = hold.untilSeconds;
  if (seconds !== undefined && (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_HOLD_SECONDS)) {
    throw new ValidationError(`untilSeconds: must be a whole number between 1 and ${MAX_HOLD_SECONDS}`, { field: "untilSeconds" });
  }
  if (hold.reason.trim() === "") throw new ValidationError("reason: must not be empty", { field: "reason" });
  const until = seconds === undefined ? null : new Date(ctx.clock.now().getTime() + seconds * 1000).toISOString();
  return commandOnStream(
    ctx,
    resourceFolder,
    "resource",
    streamIdOf("resource", resourceId),
    resourceId,
    "hold",
    () => [{ type: "ResourceHeld", data: { reason: hold.reason, until, by: actor.actor, leaseId: null } }],
    actor,
  );
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
