import { decideAllocation, type AllocationOutcome, type AllocationView, type ResourceCandidate } from "./decide-allocation";

/**
 * The fair queue: a lease takes capacity only after every lease ahead of it in the queue (higher
 * priority, or the same priority and asked earlier) has taken what it would take. Pure, like
 * decideAllocation: the leases ahead come in the view, each with its own blueprint and resource
 * verdicts over the same capacity, and are served in order, on paper, before this one.
 *
 * Why on paper: a freed slot wakes the first waiters (work-projection.ts), but a newcomer's
 * request decides at once (the fast path), so without this it could take the slot while the
 * waiter it was freed for is still on its way. A lease ahead that could not use the capacity
 * (its attributes, its blueprints, its authorizations) takes nothing on paper and blocks nobody.
 */
export interface AheadLease {
  leaseId: string;
  /** The lease's own view: its verdicts on the same blueprints and resources as the lease deciding. */
  view: AllocationView;
}

export interface QueuedAllocationView extends AllocationView {
  /** Leases ahead of this one, in queue order (bounded by the caller). */
  ahead: readonly AheadLease[];
}

export function decideInQueue(view: QueuedAllocationView): AllocationOutcome {
  const { ahead, ...own } = view;
  if (ahead.length === 0) return decideAllocation(own);
  const taken = new Map<string, number[]>();
  const limitsTaken = new Map<string, number[]>();
  // Leases served on paper, by owner: they count against that owner's quota for the next ones.
  const servedOf = new Map<string, number>();
  const served: string[] = [];
  const serve = (lease: AheadLease) => {
    served.push(lease.leaseId);
    servedOf.set(lease.view.lease.owner, (servedOf.get(lease.view.lease.owner) ?? 0) + 1);
  };
  for (const lease of ahead) {
    const d = decideAllocation(withTaken(lease.view, taken, limitsTaken, servedOf)).decision;
    switch (d.kind) {
      case "acquire":
        taken.set(d.resourceId, [...(taken.get(d.resourceId) ?? []), d.slot]);
        serve(lease);
        break;
      case "allocate":
        if (d.limitSlot !== null) limitsTaken.set(d.blueprintId, [...(limitsTaken.get(d.blueprintId) ?? []), d.limitSlot]);
        serve(lease);
        break;
      case "reclaim":
      case "wait":
      case "break":
        break;
      default: {
        const never: never = d;
        throw new Error(`unknown decision ${JSON.stringify(never)}`);
      }
    }
  }
  const mine = decideAllocation(withTaken(own, taken, limitsTaken, servedOf));
  if (served.length === 0 || mine.decision.kind !== "wait") return mine;
  // Waiting anyway (nothing free even before the queue)? Then the queue is not why.
  if (decideAllocation(own).decision.kind === "wait") return mine;
  const n = served.length;
  const reason = `queued behind ${n} lease${n === 1 ? "" : "s"} ahead of it (higher priority, or asked earlier) for the capacity free now: ${served.slice(0, 3).join(", ")}${n > 3 ? ", …" : ""}`;
  return { decision: { kind: "wait", reason, cause: "capacity", queuedBehind: served }, candidates: mine.candidates, summary: `waiting: queued behind ${n} lease${n === 1 ? "" : "s"}` };
}

/**
 * The view with the slots and limit slots the leases ahead took on paper counted as used, and the
 * leases they got counted against their owner's quota (all of one type: the view's).
 */
function withTaken(view: AllocationView, taken: ReadonlyMap<string, number[]>, limitsTaken: ReadonlyMap<string, number[]>, servedOf: ReadonlyMap<string, number>): AllocationView {
  if (taken.size === 0 && limitsTaken.size === 0) return view;
  const more = servedOf.get(view.lease.owner) ?? 0;
  return {
    ...view,
    ...(view.quota && more > 0 ? { quota: { ...view.quota, live: { total: view.quota.live.total + more, ofType: view.quota.live.ofType + more } } } : {}),
    resources: view.resources.map((rc): ResourceCandidate => {
      const more = taken.get(rc.resource.resourceId);
      if (!more) return rc;
      return { ...rc, usedSlots: [...rc.usedSlots, ...more], resource: { ...rc.resource, liveLeases: rc.resource.liveLeases + more.length }, idleSince: null };
    }),
    blueprints: view.blueprints.map((bc) => {
      const more = limitsTaken.get(bc.blueprint.blueprintId);
      return more ? { ...bc, usedLimitSlots: [...bc.usedLimitSlots, ...more] } : bc;
    }),
  };
}
