import { streamIdOf } from "../../events/envelope";
import { TransitionRefusedError, ValidationError } from "../domain/errors";
import { decideRenewal, leaseCapOf, MAX_TTL_SECONDS, type LeaseCap } from "../domain/lease-ttl";
import { leaseFolder } from "../machines/fold";
import type { LeaseContext } from "../machines/lease-machine";
import { commandOnStream, type Actor, type CommandContext } from "./command-context";

/**
 * Extends a live lease: it now expires `ttlSeconds` from now, unless its blueprint's cap
 * (maxLeaseSeconds, src/domain/lease-ttl.ts) comes first: then it expires at the cap, and the
 * event and the answer say so (`capped`). A lease past its cap is refused (409 naming the cap),
 * and nothing is appended.
 */
export async function renewLease(ctx: CommandContext, leaseId: string, ttlSeconds: number, actor: Actor): Promise<{ capped: LeaseCap | null }> {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new ValidationError(`ttlSeconds: must be a whole number between 1 and ${MAX_TTL_SECONDS}`, { field: "ttlSeconds" });
  }
  // The blueprint's cap, read before deciding; a lease still pending has no blueprint and no cap.
  const stored = await ctx.store.loadState(streamIdOf("lease", leaseId));
  const blueprintId = (stored?.context as LeaseContext | undefined)?.blueprintId ?? null;
  const blueprint = blueprintId ? await ctx.db.selectFrom("blueprints").select("max_lease_seconds").where("blueprint_id", "=", blueprintId).executeTakeFirst() : undefined;
  const maxLeaseSeconds = blueprint?.max_lease_seconds ?? null;
  const now = ctx.clock.now();
  let capped: LeaseCap | null = null;
  await commandOnStream(
    ctx,
    leaseFolder,
    "lease",
    streamIdOf("lease", leaseId),
    leaseId,
    "renew",
    (state) => {
      const c = state.context;
      // A view older than the row may not know the blueprint yet: its append conflicts, and the
      // next attempt decides on the row, with the cap read above for that blueprint.
      const cap = c.blueprintId !== null && c.blueprintId === blueprintId && c.requestedAt ? leaseCapOf(c.requestedAt, maxLeaseSeconds) : null;
      const outcome = decideRenewal(ttlSeconds, now, cap);
      if (outcome.kind === "past-cap") {
        throw new TransitionRefusedError("lease", leaseId, `past its blueprint's cap (maxLeaseSeconds ${outcome.cap.maxLeaseSeconds}: at most until ${outcome.cap.at})`, "renew");
      }
      capped = outcome.capped;
      return [{ type: "LeaseRenewed", data: { ttlSeconds: outcome.ttlSeconds, expiresAt: outcome.expiresAt, ...(outcome.capped ? { capped: outcome.capped } : {}) } }];
    },
    actor,
  );
  return { capped };
}
