import { sql, type Kysely } from "kysely";
import { authorizationEventSchemas } from "../../events/authorization-events";
import { blueprintEventSchemas } from "../../events/blueprint-events";
import type { NewEvent, StreamType } from "../../events/envelope";
import { leaseEventSchemas } from "../../events/lease-events";
import { resourceEventSchemas } from "../../events/resource-events";
import { tokenEventSchemas } from "../../events/token-events";
import { inlineProjections } from "../../projections/index";
import { ManualClock } from "../../src/domain/clock";
import { CapacityConflictError } from "../../src/domain/errors";
import { authorizationFolder, blueprintFolder, leaseFolder, resourceFolder, tokenFolder, type FoldSnapshot } from "../../src/machines/fold";
import { PostgresEventStore } from "../../src/store/event-store";
import { projectionTables, type DrydockDatabase } from "../../src/store/schema";

/**
 * Random logs a service could have written, appended through the real store (so the inline
 * projections run, and the store refuses what the machines refuse): a few blueprints, resources,
 * leases, tokens and authorizations, their events interleaved, each one legal for its stream's
 * state, with varied data, sometimes two events in one append. Slot locks are drawn from a small
 * set, so some acquisitions lose the slot to a lease that holds it: that append is refused with
 * a capacity conflict and nothing is stored, as in the service.
 *
 * `choices` (from fast-check) drives every decision, so a failing log shrinks and replays.
 */
export async function appendRandomLog(db: Kysely<DrydockDatabase>, choices: readonly number[]): Promise<number> {
  let cursor = 0;
  const pick = (n: number) => (choices.length === 0 ? 0 : choices[cursor++ % choices.length]! % n);
  const clock = new ManualClock(new Date("2030-01-01T00:00:00.000Z"));
  const store = new PostgresEventStore(db, inlineProjections, clock);
  const streams = new Map<string, { snap: FoldSnapshot; version: number }>();
  let appended = 0;
  const steps = Math.ceil(choices.length / 3);
  for (let step = 0; step < steps; step++) {
    const kind = KINDS[pick(KINDS.length)]!;
    const id = `${PREFIX[kind]}_${pick(POOL[kind])}`;
    const streamId = `${kind}-${id}`;
    const stream = streams.get(streamId) ?? { snap: FOLDERS[kind].start(), version: 0 };
    const first = nextEvent(kind, id, stream.snap, pick);
    if (!first) continue;
    const events: NewEvent[] = [first];
    let snap = FOLDERS[kind].step(stream.snap, { ...first, at: "" }, { streamId, streamVersion: stream.version + 1 });
    if (pick(4) === 0) {
      const second = nextEvent(kind, id, snap, pick);
      if (second) {
        events.push(second);
        snap = FOLDERS[kind].step(snap, { ...second, at: "" }, { streamId, streamVersion: stream.version + 2 });
      }
    }
    clock.advance(1 + pick(5000));
    try {
      await store.append(streamId, stream.version, events, { actor: `actor-${pick(3)}` });
    } catch (error) {
      if (error instanceof CapacityConflictError) continue;
      throw error;
    }
    streams.set(streamId, { snap, version: stream.version + events.length });
    appended += events.length;
  }
  return appended;
}

/** Empties the log and every table derived from it. */
export async function emptyLog(db: Kysely<DrydockDatabase>): Promise<void> {
  await sql`TRUNCATE ${sql.join(["events", "streams", ...projectionTables].map((t) => sql.table(t)))}`.execute(db);
}

const KINDS: StreamType[] = ["lease", "lease", "lease", "lease", "resource", "resource", "blueprint", "token", "authorization"];
const PREFIX: Record<StreamType, string> = { lease: "ls", resource: "rs", blueprint: "bp", token: "tk", authorization: "au" };
const POOL: Record<StreamType, number> = { lease: 10, resource: 5, blueprint: 3, token: 3, authorization: 4 };
const FOLDERS = { lease: leaseFolder, resource: resourceFolder, blueprint: blueprintFolder, token: tokenFolder, authorization: authorizationFolder };
const TYPES: Record<StreamType, string[]> = {
  lease: Object.keys(leaseEventSchemas),
  resource: Object.keys(resourceEventSchemas),
  blueprint: Object.keys(blueprintEventSchemas),
  token: Object.keys(tokenEventSchemas),
  authorization: Object.keys(authorizationEventSchemas),
};

function nextEvent(kind: StreamType, id: string, snap: FoldSnapshot, pick: (n: number) => number): NewEvent | null {
  const allowed = TYPES[kind].filter((t) => FOLDERS[kind].allows(snap.value, t));
  if (allowed.length === 0) return null;
  const type = allowed[pick(allowed.length)]!;
  return { type, data: dataOf(type, id, pick) };
}

function dataOf(type: string, id: string, pick: (n: number) => number): Record<string, unknown> {
  const time = () => new Date(Date.UTC(2030, 0, 1) + pick(100_000) * 1000).toISOString();
  const maybe = <T>(value: T) => (pick(2) === 0 ? null : value);
  const error = () => maybe({ code: `E${pick(3)}`, message: "it failed" });
  const resource = `rs_${pick(POOL.resource)}`;
  const blueprint = `bp_${pick(POOL.blueprint + 1)}`;
  switch (type) {
    case "LeaseRequested": {
      const ttl = maybe(60 + pick(600));
      return {
        leaseId: id,
        resourceType: pick(2) ? "sandbox" : "host",
        attributes: pick(2) ? {} : { labels: ["x"], size: pick(4) },
        blueprintIds: maybe([blueprint]),
        owner: `client-${pick(3)}`,
        ownerResourceId: pick(3) === 0 ? resource : null,
        ttlSeconds: ttl,
        expiresAt: ttl === null ? null : time(),
        ...(pick(3) === 0 ? {} : { authorizingObject: maybe(`client-${pick(3)}`) }),
      };
    }
    case "AllocationAttempted":
      return { attempt: 1 + pick(5), decision: "wait", candidates: [], summary: `attempt ${pick(9)}`, durationMs: maybe(pick(50)) };
    case "LeaseWaiting":
      return { reason: `waiting ${pick(3)}`, retryAt: time(), blueprintIds: [], ...(pick(3) === 0 ? {} : { cause: pick(2) ? "capacity" : "configuration" }) };
    case "LeaseYielded":
      return { reason: `busy ${pick(3)}`, retryAt: time(), attempt: 1 + pick(3), error: error() };
    case "LeaseAcquired": {
      const slot = pick(2);
      return { resourceId: resource, blueprintId: blueprint, slot, locks: pick(4) === 0 ? [] : [`resource:${resource}:slot:${slot}`] };
    }
    case "LeaseActivated":
      return { workingDirectory: maybe(`/work/${id}`) };
    case "LeaseReacquiring":
      return { resourceId: resource, reason: "its resource ended" };
    case "LeaseRenewed":
      return { ttlSeconds: 60, expiresAt: time() };
    case "LeaseQuotaChanged":
      return { quota: pick(3) === 0 ? null : { maxLiveLeases: 1 + pick(3) }, reason: `token tk_${pick(3)}: maxLiveLeases ${pick(3)}` };
    case "LeaseReleased":
      return { reason: (["requested", "expired", "resource-ended", "owner-ended"] as const)[pick(4)], detail: maybe(`because ${pick(3)}`) };
    case "LeaseBroken":
      return { reason: `broke ${pick(3)}`, error: error() };
    case "LeaseDestroyed":
      return { cleanupError: maybe("could not remove the directory") };
    case "ResourceAllocated":
      return {
        resourceId: id,
        blueprintId: blueprint,
        resourceType: "sandbox",
        attributes: { region: `r${pick(3)}`, ...(pick(2) ? { tags: ["a", "b"] } : {}) },
        leaseSlots: 1 + pick(3),
        locks: pick(2) ? [] : [`blueprint:${blueprint}:limit:${pick(2)}`],
        forLeaseId: maybe(`ls_${pick(POOL.lease)}`),
      };
    case "ResourceActivated":
      return { attributes: pick(2) ? {} : { region: "over", ip: `10.0.0.${pick(9)}` } };
    case "ResourceActivationYielded":
      return { reason: "provider busy", retryAt: time(), attempt: 1 + pick(4) };
    case "ResourceReleased":
      return { reason: `idle ${pick(3)}` };
    case "ResourceBroken":
      return { reason: `build failed ${pick(3)}`, error: error() };
    case "ResourceDestroyed":
      return {};
    case "ResourceSuspected":
      return { reason: `a lease could not use it ${pick(3)}`, error: { code: "unreachable", message: `refused ${pick(3)}` } };
    case "ResourceRecovered":
      return { reason: "its health check passed" };
    case "ResourceHeld":
      return { reason: `look at it ${pick(3)}`, until: pick(2) ? time() : null, by: "admin", leaseId: maybe(`ls_${pick(5)}`), ...(pick(3) === 0 ? { locks: [`resource:${id}:slot:${pick(3)}`] } : {}) };
    case "ResourceHoldReleased":
      return { reason: "released by admin" };
    case "ResourceDestroyDeferred":
      return { reason: "destroy waits: on hold" };
    case "BlueprintCreated":
      return { blueprintId: id, name: `name-${id}`, kind: "memory-pool", resourceType: "sandbox", config: { slots: 1 + pick(3) }, resourceLimit: maybe(1 + pick(3)) };
    case "BlueprintUpdated":
      return {
        ...(pick(2) ? { name: `name-${id}-${pick(5)}` } : {}),
        ...(pick(2) ? { config: { slots: 1 + pick(3), labels: ["y"] } } : {}),
        ...(pick(2) ? { resourceLimit: maybe(1 + pick(5)) } : {}),
      };
    case "BlueprintDisabled":
      return { reason: maybe("maintenance") };
    case "BlueprintEnabled":
      return {};
    case "BlueprintTargetFailed":
      return { target: `host-${pick(3)}`, code: "host_key_mismatch", message: `the host key of host-${pick(3)} did not match`, failures: 1 + pick(3), retryAt: time() };
    case "BlueprintTargetRecovered":
      return { target: `host-${pick(3)}` };
    case "BlueprintInstanceReaped":
      return { instanceId: `i-${id}`, resourceId: maybe(`rs_${pick(5)}`), region: "eu-west-1", reason: "its resource is destroyed" };
    case "TokenIssued":
      return { tokenId: id, owner: `owner-${id}`, role: pick(2) ? "client" : "admin", hash: `sha256:${Buffer.from(id.padEnd(32, "-")).toString("hex")}`, ...(pick(3) === 0 ? { expiresAt: time() } : {}) };
    case "TokenRevoked":
      return { reason: maybe("leaked") };
    case "TokenQuotaChanged":
      return { leaseQuota: pick(2) ? null : { maxLiveLeases: 1 + pick(4) } };
    case "AuthorizationRequested":
      return { authorizationId: id, blueprintId: `bp_${Number(id.slice(3)) % POOL.blueprint}`, client: `client-${id}` };
    case "AuthorizationApproved":
      return {};
    case "AuthorizationDeclined":
      return { reason: maybe("not yet") };
    case "AuthorizationRevoked":
      return { reason: maybe("done"), releaseLeases: pick(2) === 0 };
    default:
      throw new Error(`no random data for ${type}`);
  }
}
