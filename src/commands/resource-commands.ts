import { streamIdOf } from "../../events/envelope";
import { resourceFolder } from "../machines/fold";
import { commandOnStream, type Actor, type CommandContext } from "./command-context";

/** An operator releases a resource: its leases are let go and it is destroyed. */
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
