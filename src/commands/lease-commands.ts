import { streamIdOf, type EventMetadata, type NewEvent } from "../../events/envelope";
import type { AppendCondition } from "../store/append-condition";
import type { TokenReadAlong } from "../auth/token-check";
import { blueprintViewOf } from "../blueprints/blueprint-views";
import { ForbiddenError, QuotaExceededError, UnsatisfiableError, ValidationError } from "../domain/errors";
import { quotaForType, quotaReason, type LeaseQuota } from "../domain/lease-quota";
import { liveLeaseCounts } from "../queries/live-lease-counts";
import { MAX_HOLD_ON_FAILURE_SECONDS } from "../domain/resource-hold";
import { DEFAULT_LEASE_TTL_SECONDS, expiryAfter, MAX_TTL_SECONDS, resolveRequestTtl } from "../domain/lease-ttl";
import { leaseFolder } from "../machines/fold";
import { commandOnStream, type Actor, type CommandContext } from "./command-context";
import type { WorkClaim } from "../store/projection";
import { compiledOnce, rowsOf } from "../store/compiled-once";
import { readAllocationSnapshot, type AllocationSnapshot } from "../allocator/allocation-snapshot";
import type { ViewAsker } from "../allocator/capacity-view-cache";

export interface LeaseRequest {
  resourceType: string;
  attributes?: Record<string, unknown>;
  /** Omitted: a default applies (src/domain/lease-ttl.ts). null: no TTL, for admins only. */
  ttlSeconds?: number | null;
  blueprintIds?: string[] | null;
  /** Queue priority, default 0: higher is served first. Above 0 for admins only. */
  priority?: number;
  /** Keep the resource on hold this long if the lease fails on it (src/domain/resource-hold.ts). */
  holdOnFailure?: { seconds: number };
  /** false: refuse the request (QuotaExceededError) rather than wait when its owner is at its quota now. */
  waitIfOverQuota?: boolean;
}

export { MAX_TTL_SECONDS };

export interface LeaseRequestOptions {
  /**
   * Whose blueprint authorizations the allocator checks (the requesting client). Omitted or
   * null: none are needed, as for an admin, or a caller below the API that is trusted already.
   * Only such a caller may ask for a lease without a TTL.
   */
  authorizingObject?: string | null;
  /** The requesting token's default TTL (TokenIssued.defaultLeaseTtlSeconds), for a request that names none. */
  clientTtlSeconds?: number | null;
  /** The requesting token's lease quota (TokenIssued.leaseQuota): the lease carries the part for its type. */
  clientQuota?: LeaseQuota | null;
  /** The caller runs the lease's first steps itself (AllocatorWorker.runClaimedSteps): its work item is stored claimed. */
  claim?: Omit<WorkClaim, "streamId">;
}

/**
 * Requests a lease. A request no blueprint could ever satisfy (unknown type, no allowed blueprint
 * of that type, attributes no blueprint offers) is refused here, with nothing appended, rather
 * than accepted and broken later. So is a client's request when it holds no approved
 * authorization on any blueprint that could serve it (403): it would only wait for an approval
 * nobody has been asked for. A lease that was authorized when asked for and loses it later waits.
 */
export async function requestLease(ctx: CommandContext, request: LeaseRequest, owner: string, actor: Actor, options: LeaseRequestOptions = {}): Promise<string> {
  const { leaseId, requested } = await prepareLeaseRequest(ctx, request, owner, actor, options);
  const claim = options.claim ? { claim: { ...options.claim, streamId: streamIdOf("lease", leaseId) } } : undefined;
  await ctx.store.append(streamIdOf("lease", leaseId), 0, [requested], requested.metadata, claim);
  return leaseId;
}

/**
 * The blueprints of a type, each with whether `client` holds an approved authorization on it
 * (false for every one when client is null: an admin's request needs none). One statement,
 * compiled once (compiled-once.ts): every lease request sends it.
 */
const blueprintsOfType = compiledOnce((db, { resourceType, client }: { resourceType: string; client: string | null }) =>
  db
    .selectFrom("blueprints")
    .selectAll("blueprints")
    .select((eb) =>
      eb
        .exists(eb.selectFrom("authorizations").select("authorization_id").whereRef("authorizations.blueprint_id", "=", "blueprints.blueprint_id").where("client", "=", client).where("state", "=", "approved"))
        .as("approved"),
    )
    .where("resource_type", "=", resourceType),
);

/**
 * Checks a lease request and returns its LeaseRequested event, with the requester as its actor,
 * without appending it: requestLease appends it alone; the fast path appends it in one
 * transaction with the allocator's first decision on it (AllocatorWorker.runClaimedSteps).
 */
export async function prepareLeaseRequest(
  ctx: CommandContext,
  request: LeaseRequest,
  owner: string,
  actor: Actor,
  options: Omit<LeaseRequestOptions, "claim"> & PreparedRequestOptions = {},
): Promise<PreparedLeaseRequest> {
  const views = options.withAllocationSnapshot && !options.freshView ? ctx.capacityViews : undefined;
  const kept = views?.get(askerOf(request, owner, options));
  // A view kept with no token part cannot give the terms of a token read along.
  if (kept && (!options.token || kept.token)) {
    try {
      return await prepareOver(ctx, request, owner, actor, options, kept);
    } catch {
      // A refusal over a kept view is not trusted: the request is checked again over a fresh one.
    }
  }
  return prepareOver(ctx, request, owner, actor, options, undefined);
}

/** Who asks, as the capacity view read for a request depends on it (capacity-view-cache.ts). */
function askerOf(request: LeaseRequest, owner: string, options: Omit<LeaseRequestOptions, "claim"> & PreparedRequestOptions): ViewAsker {
  return { resourceType: request.resourceType, owner, authorizingObject: options.authorizingObject ?? null, tokenId: options.token?.tokenId ?? null, priority: request.priority ?? 0 };
}

/** prepareLeaseRequest over a view kept from an earlier request (`kept`), or over its own (read here, when asked for). */
async function prepareOver(
  ctx: CommandContext,
  request: LeaseRequest,
  owner: string,
  actor: Actor,
  options: Omit<LeaseRequestOptions, "claim"> & PreparedRequestOptions,
  kept: AllocationSnapshot | undefined,
): Promise<PreparedLeaseRequest> {
  const authorizingObject = options.authorizingObject ?? null;
  const attributes = request.attributes ?? {};
  const blueprintIds = request.blueprintIds && request.blueprintIds.length > 0 ? [...new Set(request.blueprintIds)] : null;
  if (request.ttlSeconds !== undefined && request.ttlSeconds !== null && (!Number.isInteger(request.ttlSeconds) || request.ttlSeconds < 1 || request.ttlSeconds > MAX_TTL_SECONDS)) {
    throw new ValidationError(`ttlSeconds: must be a whole number between 1 and ${MAX_TTL_SECONDS}`, { field: "ttlSeconds" });
  }
  // A lease that never expires holds its slot until someone releases it: an admin's choice only.
  if (request.ttlSeconds === null && authorizingObject !== null) {
    throw new ForbiddenError("ttlSeconds: only an admin may ask for a lease without a TTL (null); give a number of seconds, or leave it out for the default", {
      field: "ttlSeconds",
    });
  }
  const holdSeconds = request.holdOnFailure?.seconds;
  if (request.holdOnFailure !== undefined && (!Number.isInteger(holdSeconds) || holdSeconds! < 1 || holdSeconds! > MAX_HOLD_ON_FAILURE_SECONDS)) {
    throw new ValidationError(`holdOnFailure.seconds: must be a whole number between 1 and ${MAX_HOLD_ON_FAILURE_SECONDS}`, { field: "holdOnFailure.seconds" });
  }
  const priority = request.priority ?? 0;
  if (!Number.isInteger(priority) || priority < -1000 || priority > 1000) {
    throw new ValidationError("priority: must be a whole number between -1000 and 1000", { field: "priority" });
  }
  // Jumping the queue takes capacity from everyone waiting: an admin's choice only. Anyone may
  // step back (a batch job that can wait behind interactive ones).
  if (priority > 0 && authorizingObject !== null) {
    throw new ForbiddenError("priority: only an admin may ask for a priority above 0 (the default); a lower one is anyone's to ask for", { field: "priority" });
  }
  if (options.token && !options.withAllocationSnapshot) throw new Error("prepareLeaseRequest: a token read along needs withAllocationSnapshot");
  const leaseId = ctx.ids.next("lease");
  const now = ctx.clock.now();
  const token = options.token;
  // The token's terms, when read along, are not known before the view: its quota is then read for
  // the owner whatever it is (AllocationSnapshot), and its part for this type worked out after.
  const read = kept
    ? undefined
    : options.withAllocationSnapshot
    ? await readAllocationSnapshot(ctx.db, {
        resourceType: request.resourceType,
        kinds: ctx.registry.kinds(),
        lease: { leaseId, owner, authorizingObject },
        place: { priority, requestedAt: now, quota: token ? null : quotaForType(options.clientQuota, request.resourceType) },
        ...(token ? { token: { tokenId: token.tokenId, at: token.at } } : {}),
      })
    : undefined;
  // Kept for the next request of its kind, when its token (if read along) worked.
  if (read && ctx.capacityViews && (!token || read.token)) ctx.capacityViews.put(askerOf(request, owner, options), read);
  // Nothing is stored before this: a token that no longer works is refused here (401). Over a
  // kept view, the terms are the view's, and the append's guard checks the token (stale-view-guard.ts).
  const keptToken = kept?.token;
  const terms = token
    ? keptToken
      ? { defaultLeaseTtlSeconds: keptToken.defaultLeaseTtlSeconds, leaseQuota: keptToken.leaseQuota }
      : token.found(read!.token ?? null)
    : { defaultLeaseTtlSeconds: options.clientTtlSeconds ?? null, leaseQuota: options.clientQuota ?? null };
  const snapshot: AllocationSnapshot | undefined = kept
    ? { ...kept, kept: { token: token && keptToken ? { tokenId: token.tokenId, version: keptToken.version, at: token.at, held: () => void token.found(terms) } : null } }
    : read;
  const serviceDefault = ctx.defaultLeaseTtlSeconds === undefined ? DEFAULT_LEASE_TTL_SECONDS : ctx.defaultLeaseTtlSeconds;
  const ttl = resolveRequestTtl(request.ttlSeconds, terms.defaultLeaseTtlSeconds, serviceDefault);
  const quota = quotaForType(terms.leaseQuota, request.resourceType);
  const found = (snapshot && blueprintsOfSnapshot(snapshot, authorizingObject, blueprintIds)) ?? (await rowsOf(ctx.db, blueprintsOfType(ctx.db, { resourceType: request.resourceType, client: authorizingObject })));
  const approvedIds = new Set(found.filter((r) => r.approved).map((r) => r.blueprint_id));
  const rows = found.map(({ approved: _, ...row }) => row);
  if (rows.length === 0) {
    const types = await ctx.db.selectFrom("blueprints").select("resource_type").distinct().execute();
    throw new UnsatisfiableError(`no blueprint provides resources of type ${JSON.stringify(request.resourceType)}`, {
      field: "resourceType",
      knownTypes: types.map((t) => t.resource_type).sort(),
    });
  }
  if (blueprintIds) {
    const unknown = blueprintIds.filter((id) => !rows.some((r) => r.blueprint_id === id));
    if (unknown.length > 0) {
      throw new UnsatisfiableError(`blueprintIds: ${unknown.join(", ")} ${unknown.length === 1 ? "is not a blueprint" : "are not blueprints"} of type ${request.resourceType}`, { field: "blueprintIds", unknown });
    }
  }
  const leaseView = { leaseId: "", resourceType: request.resourceType, attributes, owner, ownerResourceId: null, authorizingObject };
  const verdicts = rows
    .filter((r) => !blueprintIds || blueprintIds.includes(r.blueprint_id))
    .filter((r) => ctx.registry.has(r.kind))
    .map((r) => {
      try {
        return { id: r.blueprint_id, verdict: ctx.registry.get(r.kind).canEverAllocate(blueprintViewOf(r, ctx.registry), leaseView) };
      } catch (error) {
        return { id: r.blueprint_id, verdict: { ok: false as const, reason: (error as Error).message } };
      }
    });
  if (!verdicts.some((v) => v.verdict.ok)) {
    throw new UnsatisfiableError("no blueprint can ever satisfy this lease", {
      field: "attributes",
      blueprints: verdicts.map((v) => ({ blueprintId: v.id, reason: v.verdict.ok ? "ok" : v.verdict.reason })),
    });
  }
  if (authorizingObject !== null) {
    const servable = verdicts.filter((v) => v.verdict.ok).map((v) => v.id);
    if (!servable.some((id) => approvedIds.has(id))) {
      // The ids and names let the client ask for one (POST /v1/blueprints/{id}/authorizations).
      throw new ForbiddenError(`${authorizingObject} is not authorized to use any blueprint that could serve this lease: request an authorization and ask an admin to approve it`, {
        client: authorizingObject,
        blueprints: rows.filter((r) => servable.includes(r.blueprint_id)).map((r) => ({ id: r.blueprint_id, name: r.name })),
      });
    }
  }

  if (quota && request.waitIfOverQuota === false) {
    const live = (await liveLeaseCounts(ctx.db, [owner], request.resourceType)).get(owner) ?? { total: 0, ofType: 0 };
    const over = quotaReason(owner, request.resourceType, quota, live);
    if (over !== null) throw new QuotaExceededError(over, { field: "waitIfOverQuota", quota, live });
  }
  const requested = {
    type: "LeaseRequested",
    data: {
      leaseId,
      resourceType: request.resourceType,
      attributes,
      blueprintIds,
      owner,
      ownerResourceId: null,
      ttlSeconds: ttl.ttlSeconds,
      expiresAt: ttl.ttlSeconds === null ? null : expiryAfter(now, ttl.ttlSeconds),
      authorizingObject,
      ttlSource: ttl.source,
      ...(priority !== 0 ? { priority } : {}),
      ...(holdSeconds !== undefined ? { holdOnFailure: { seconds: holdSeconds } } : {}),
      ...(quota ? { quota } : {}),
    },
    metadata: { ...actor, correlationId: actor.correlationId ?? leaseId },
  };
  return { leaseId, requested, requestedAt: now, ...(snapshot ? { snapshot } : {}) };
}

export interface PreparedRequestOptions {
  /** Read the capacity view for this lease at its place in the queue (PreparedLeaseRequest.snapshot). */
  withAllocationSnapshot?: boolean;
  /**
   * With withAllocationSnapshot: read the view even when one kept from an earlier request could
   * serve (CommandContext.capacityViews): the request again after its kept view proved stale.
   */
  freshView?: boolean;
  /**
   * The requesting token, read along with the view (needs withAllocationSnapshot), in place of a
   * read before the request: its terms (default TTL, lease quota) then come from that read, not
   * from `clientTtlSeconds` and `clientQuota`, and a token that does not work is refused there.
   */
  token?: TokenReadAlong;
}

export interface PreparedLeaseRequest {
  leaseId: string;
  requested: NewEvent & { metadata: EventMetadata };
  /** The time its expiry counts from: the fast path stores the request at this time. */
  requestedAt: Date;
  /**
   * `withAllocationSnapshot`: the capacity view read for this lease at its place in the queue,
   * which the request was checked against. The fast path's first allocation decides over it
   * instead of reading it again (allocateLease), one statement fewer for every waiting acquire.
   */
  snapshot?: AllocationSnapshot;
}

/**
 * The blueprints of the request's type with their approval for `client`, from the snapshot,
 * when it answers the check as the full read would. The snapshot holds only the kinds this
 * process serves; the check looks at other kinds only to say why a request is refused (no
 * blueprint of the type, a named blueprint of another kind), so then it is null, and the full
 * read gives those errors as they always were.
 */
function blueprintsOfSnapshot(snapshot: AllocationSnapshot, client: string | null, blueprintIds: readonly string[] | null) {
  const rows = snapshot.blueprints;
  if (rows.length === 0 || (blueprintIds && !blueprintIds.every((id) => rows.some((r) => r.blueprint_id === id)))) return null;
  const approved = new Set(snapshot.approved.filter((a) => a.client === client).map((a) => a.blueprint_id));
  return rows.map((row) => ({ ...row, approved: approved.has(row.blueprint_id) }));
}

/**
 * Releases a lease; with `claim`, the caller runs its teardown itself (AllocatorWorker.runClaimedSteps);
 * with `condition`, the release is stored only if it holds (the request's token: TokenCheck).
 */
export function releaseLease(ctx: CommandContext, leaseId: string, actor: Actor, claim?: Omit<WorkClaim, "streamId">, condition?: AppendCondition) {
  const streamId = streamIdOf("lease", leaseId);
  const options = { ...(claim ? { claim: { ...claim, streamId } } : {}), ...(condition ? { condition } : {}) };
  return commandOnStream(ctx, leaseFolder, "lease", streamId, leaseId, "release", () => [{ type: "LeaseReleased", data: { reason: "requested", detail: null } }], actor, options);
}

/**
 * Releases a lease that is not active yet (pending or acquired), as its requester, with the
 * reason in `detail`; a lease that is active or has ended is left as it is (nothing appended).
 * For a `?wait` request whose client went away before the lease activated (cancelOnDisconnect).
 * True when it released the lease.
 */
export async function cancelWaitingLease(ctx: CommandContext, leaseId: string, detail: string, actor: Actor): Promise<boolean> {
  const { events } = await commandOnStream(
    ctx,
    leaseFolder,
    "lease",
    streamIdOf("lease", leaseId),
    leaseId,
    "cancel",
    (state) => (state.status === "pending" || state.status === "acquired" ? [{ type: "LeaseReleased", data: { reason: "requested", detail } }] : []),
    actor,
  );
  return events.length > 0;
}

/** Extends a live lease, under its blueprint's cap: lease-renewal.ts. */
export { renewLease } from "./lease-renewal";

