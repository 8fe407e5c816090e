import { sql } from "kysely";
import { streamIdOf, type NewEvent } from "../../events/envelope";
import type { Actor, CommandContext } from "../commands/command-context";
import { NotFoundError, TransitionRefusedError, VersionConflictError } from "../domain/errors";
import { leaseQuotaSchema, quotaForType, type LeaseQuota, type LeaseQuotaOfLease } from "../domain/lease-quota";
import { parseOrThrow } from "../domain/parse";
import { tokenFolder, type Folded } from "../machines/fold";
import type { TokenContext, TokenStatus } from "../machines/token-machine";
import { asFolded } from "../store/stream-state";

/** Attempts before a change that keeps losing races to the allocator gives up (409). */
const MAX_ATTEMPTS = 8;

/**
 * An admin changes a token's lease quota (null: none). One append, all or nothing:
 * - `TokenQuotaChanged` on the token: the leases it asks for from now on carry the new quota;
 * - `LeaseQuotaChanged` on each lease that token asked for and that still waits (pending), with
 *   the part of the new quota for its type. Its work item becomes due at once, so raising a
 *   quota lets leases that waited on it through now, not after their next backoff.
 *
 * A lease knows the token that asked for it from its LeaseRequested's metadata; only that
 * token's leases change: a lease another token of the same owner asked for keeps its quota.
 * A lease that moved meanwhile (the allocator waited it again, say) is a version conflict, and
 * the whole change is decided again on the new states.
 */
export async function changeTokenQuota(ctx: CommandContext, tokenId: string, leaseQuota: LeaseQuota | null, actor: Actor): Promise<{ leasesChanged: string[] }> {
  const quota = leaseQuota === null ? null : parseOrThrow(leaseQuotaSchema, leaseQuota, "leaseQuota");
  const tokenStream = streamIdOf("token", tokenId);
  for (let attempt = 1; ; attempt++) {
    const stored = await ctx.store.loadState(tokenStream, { recent: attempt === 1 });
    if (!stored) throw new NotFoundError("token", tokenId);
    const token: Folded<TokenStatus, TokenContext> = asFolded(stored);
    if (!tokenFolder.allows(token.status, "TokenQuotaChanged")) throw new TransitionRefusedError("token", tokenId, token.status, "change the quota of");
    const waiting = await waitingLeasesAskedBy(ctx, token.context.owner, tokenId);
    const changed = waiting.filter((l) => !sameQuota(l.quota, quotaForType(quota, l.resourceType)));
    const reason = `token ${tokenId}: ${quotaText(quota)}`;
    const leaseEvent = (resourceType: string): NewEvent => ({ type: "LeaseQuotaChanged", data: { quota: quotaForType(quota, resourceType), reason } });
    try {
      await ctx.store.appendMany(
        [
          { streamId: tokenStream, expectedVersion: token.version, events: [{ type: "TokenQuotaChanged", data: { leaseQuota: quota } }] },
          ...changed.map((l) => ({ streamId: streamIdOf("lease", l.leaseId), expectedVersion: l.version, events: [leaseEvent(l.resourceType)] })),
        ],
        actor,
      );
      return { leasesChanged: changed.map((l) => l.leaseId) };
    } catch (error) {
      if (!(error instanceof VersionConflictError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}

interface WaitingLease {
  leaseId: string;
  version: number;
  resourceType: string;
  quota: LeaseQuotaOfLease | null;
}

/** The owner's pending leases whose request came with this token (bounded: one owner's waiting leases). */
async function waitingLeasesAskedBy(ctx: CommandContext, owner: string, tokenId: string): Promise<WaitingLease[]> {
  const rows = await ctx.db
    .selectFrom("leases")
    // Its LeaseRequested, by the events' (stream_id, stream_version) key.
    .innerJoin("events", (join) => join.on(sql<boolean>`events.stream_id = 'lease-' || leases.lease_id`).on("events.stream_version", "=", 1))
    .select(["leases.lease_id", "leases.version", "leases.resource_type", "leases.lease_quota", "events.metadata"])
    .where("leases.owner", "=", owner)
    .where("leases.status", "=", "pending")
    .execute();
  return rows
    .filter((r) => (r.metadata as { tokenId?: string } | null)?.tokenId === tokenId)
    .map((r) => ({ leaseId: r.lease_id, version: r.version, resourceType: r.resource_type, quota: r.lease_quota ?? null }));
}

function sameQuota(a: LeaseQuotaOfLease | null, b: LeaseQuotaOfLease | null): boolean {
  return (a?.maxLiveLeases ?? null) === (b?.maxLiveLeases ?? null) && (a?.maxLiveLeasesOfType ?? null) === (b?.maxLiveLeasesOfType ?? null);
}

/** The quota in words, for the lease's event: "maxLiveLeases 4, host 2", or "no quota". */
export function quotaText(quota: LeaseQuota | null): string {
  if (!quota) return "no quota";
  const parts = [...(quota.maxLiveLeases !== undefined ? [`maxLiveLeases ${quota.maxLiveLeases}`] : []), ...Object.entries(quota.byResourceType ?? {}).map(([type, n]) => `${type} ${n}`)];
  return parts.join(", ");
}
