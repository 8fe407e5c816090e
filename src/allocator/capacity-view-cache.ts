import type { RecordedEvent } from "../../events/envelope";
import { lockChange } from "../../projections/capacity-changes";
import { setNewest } from "../domain/bounded-map";
import type { AllocationSnapshot } from "./allocation-snapshot";
import { lockOwner, scopeOfLock } from "./slot-keys";

/** How long a capacity view read for a request may serve later requests (ms). */
const MAX_AGE_MS = 5_000;
/** Resource types whose shared part is kept (capacity), and askers whose own part is. */
const MAX_TYPES = 64;
const MAX_ASKERS = 1024;
/** Stream types whose events change what a view says beyond its slot locks. */
const VIEW_STREAMS = ["resource-", "blueprint-", "authorization-", "token-"];

/** Who asks for a lease, as far as the capacity view read for it depends on the asker. */
export interface ViewAsker {
  resourceType: string;
  owner: string;
  authorizingObject: string | null;
  /** The token read along with the view (its terms come with it); null: none was. */
  tokenId: string | null;
  priority: number;
}

/**
 * The optimistic acquire's refusal: the capacity view a lease request decided over was kept from
 * an earlier request, and the database no longer agrees with it where the decision rests on it
 * (src/allocator/stale-view-guard.ts), or the decision over it was not to acquire. Nothing was
 * stored; the request is then made again over a view read for it. Never reaches a client.
 */
export class StaleCapacityView extends Error {
  constructor(readonly reason: string) {
    super(`capacity view kept from an earlier request: ${reason}`);
    this.name = "StaleCapacityView";
  }
}

/** A view's part that is the same for every asker of a type: blueprints, resources, their locks and loads. */
interface KeptCapacity {
  snapshot: Pick<AllocationSnapshot, "blueprints" | "undestroyed" | "locks" | "loads" | "served" | "readStartedAt">;
  /** When it was read (the monotonic clock of the constructor's `now`). */
  readAt: number;
  /** The scopes of its locks: its blueprints and resources. */
  scopes: Set<string>;
}

/** A view's part that depends on the asker: approvals, quota numbers and counts, token terms, the queue ahead. */
interface KeptAsker {
  snapshot: Pick<AllocationSnapshot, "approved" | "live" | "ahead" | "token">;
  /** The owner's quota locks (`quota:<owner>:…`), which the view read when the lease carried a quota. */
  quotaLocks: AllocationSnapshot["locks"];
  owner: string;
  readAt: number;
}

/**
 * The capacity views this process read for lease requests, kept so that the next request of the
 * same kind can decide without reading one (the optimistic acquire). A kept view is never trusted:
 * the append of a decision made over it carries a guard that refuses it unless the database still
 * agrees where the decision rests (stale-view-guard.ts), and slot locks refuse a slot taken since.
 * Keeping it close to the truth only makes those refusals rare: every append this process commits
 * updates the kept views' slot locks as the capacity projection updates the table (a lease taking
 * its slot, a release freeing it), and any change to a resource, blueprint, authorization or token
 * drops them all. Other processes' changes are not seen here; their refusals say so.
 *
 * Memory: the part of a view every asker shares (the pool's blueprints, resources and locks, the
 * large part on a large pool) is kept once per resource type, whoever read it last; each asker
 * keeps only its own small part. Put together they are a view no single read returned, which is
 * no weaker than any kept view: the guard and the locks judge the decision, not the view.
 */
export class CapacityViewCache {
  private readonly capacity = new Map<string, KeptCapacity>();
  private readonly askers = new Map<string, KeptAsker>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The view kept for this asker, if both its parts are recent and nothing waits ahead in it: one to decide over optimistically. */
  get(asker: ViewAsker): AllocationSnapshot | undefined {
    const key = keyOf(asker);
    const own = this.askers.get(key);
    const shared = this.capacity.get(asker.resourceType);
    if (!own || !shared) return undefined;
    const now = this.now();
    if (now - own.readAt > MAX_AGE_MS || now - shared.readAt > MAX_AGE_MS) return undefined;
    // A lease waiting ahead would be served first (decide-in-queue.ts): such a view is read fresh.
    if (own.snapshot.ahead.length > 0) return undefined;
    return { ...shared.snapshot, ...own.snapshot, locks: [...shared.snapshot.locks, ...own.quotaLocks] };
  }

  /** Keeps a view read for this asker (its token part, if any, is what the read found). */
  put(asker: ViewAsker, snapshot: AllocationSnapshot): void {
    const readAt = this.now();
    const quota = (l: { lock_key: string }) => l.lock_key.startsWith("quota:");
    const { blueprints, undestroyed, loads, served, readStartedAt, approved, live, ahead, token } = snapshot;
    const scopes = new Set([...blueprints.map((b) => b.blueprint_id), ...undestroyed.map((r) => r.resource_id)]);
    setNewest(this.capacity, asker.resourceType, { snapshot: { blueprints, undestroyed, loads, served, readStartedAt, locks: snapshot.locks.filter((l) => !quota(l)) }, readAt, scopes }, MAX_TYPES);
    setNewest(this.askers, keyOf(asker), { snapshot: { approved, live, ahead, ...(token === undefined ? {} : { token }) }, quotaLocks: snapshot.locks.filter(quota), owner: asker.owner, readAt }, MAX_ASKERS);
  }

  /** An append this process committed: its lock changes go into every kept view; other changes to what a view shows drop them all. */
  committed(events: readonly RecordedEvent[]): void {
    if (this.capacity.size === 0) return;
    for (const event of events) {
      // A lease that starts waiting is ahead of the next request of its type: its view is read fresh.
      if (event.type === "LeaseWaiting" || VIEW_STREAMS.some((prefix) => event.streamId.startsWith(prefix))) {
        this.capacity.clear();
        this.askers.clear();
        return;
      }
      const change = lockChange(event);
      if (!change) continue;
      // Only a lease's own events get here: it takes its locks, or frees all it holds.
      if ("take" in change) {
        for (const key of change.take) {
          const lock = { lock_key: key, owner_stream_id: lockOwner(key, event.streamId) };
          if (key.startsWith("quota:")) {
            for (const kept of this.askers.values()) if (kept.owner === scopeOfLock(key)) kept.quotaLocks.push(lock);
          } else {
            for (const kept of this.capacity.values()) if (kept.scopes.has(scopeOfLock(key))) kept.snapshot.locks.push(lock);
          }
        }
      } else {
        const other = (l: { owner_stream_id: string }) => l.owner_stream_id !== event.streamId;
        for (const kept of this.capacity.values()) kept.snapshot.locks = kept.snapshot.locks.filter(other);
        for (const kept of this.askers.values()) kept.quotaLocks = kept.quotaLocks.filter(other);
      }
    }
  }
}

function keyOf(a: ViewAsker): string {
  return JSON.stringify([a.resourceType, a.owner, a.authorizingObject, a.tokenId, a.priority]);
}
