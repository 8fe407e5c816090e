import type { AllocationView } from "./decide-allocation";

/** How long a committed slot is still counted for views read before its commit (ms). */
const KEEP_COMMITTED_MS = 10_000;

/**
 * The lease slots this Drydock instance's allocations are taking right now (decided on, their
 * append not answered yet) or took since a view was read. Requests that arrive together read
 * the same capacity view, and each, deciding alone, could pick the slot another took: the loser
 * then fails at the database (`capacity_conflict`), and reads and decides again. Seen as taken,
 * the slots in flight send each request to a slot of its own. (Across processes the random free
 * slot each decision takes, allocate-lease.ts, does what it can: they share no memory.)
 *
 * A slot whose append committed after a view was read is as invisible to that view as one in
 * flight: a request that read its view while another's append was on its way, and decides once
 * that append has answered, would otherwise pick the slot just taken. So a committed slot stays
 * counted for the views read before its commit (`readStartedAt`, on this class's clock).
 *
 * The database's slot locks still decide who gets a slot: this only makes a lost race rare among
 * the requests of one instance. Times are a monotonic clock's (performance.now()), for ordering
 * a read against a commit, never for a decision.
 */
export class SlotsInFlight {
  /** Per resource, each slot in flight with how many allocations are taking it. */
  private readonly byResource = new Map<string, Map<number, number>>();
  /** Slots whose append committed, oldest first, with when that was known. */
  private readonly committed: { resourceId: string; slot: number; at: number }[] = [];

  /** `now`: the clock the snapshot's readStartedAt is on (performance.now()); another only in tests. */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Marks the slot as being taken; the returned function ends that once the append has answered:
   * `committed` when it took the slot, so that views read before now still count it.
   */
  take(resourceId: string, slot: number): (committed?: boolean) => void {
    let slots = this.byResource.get(resourceId);
    if (!slots) this.byResource.set(resourceId, (slots = new Map()));
    slots.set(slot, (slots.get(slot) ?? 0) + 1);
    let done = false;
    return (committed = false) => {
      if (done) return;
      done = true;
      const n = slots.get(slot)! - 1;
      if (n > 0) slots.set(slot, n);
      else slots.delete(slot);
      if (slots.size === 0 && this.byResource.get(resourceId) === slots) this.byResource.delete(resourceId);
      if (committed) this.remember(resourceId, slot);
    };
  }

  /**
   * The view with the slots in flight counted as used on their resources, and the slots committed
   * since `readStartedAt` (when the view's read was sent; absent: in flight only).
   */
  seenIn<V extends Pick<AllocationView, "resources">>(view: V, readStartedAt?: number): V {
    const unseen = this.unseenSince(readStartedAt);
    if (unseen.size === 0) return view;
    return {
      ...view,
      resources: view.resources.map((rc) => {
        const slots = unseen.get(rc.resource.resourceId);
        return slots ? { ...rc, usedSlots: [...new Set([...rc.usedSlots, ...slots])] } : rc;
      }),
    };
  }

  private unseenSince(readStartedAt: number | undefined): Map<string, Set<number>> {
    const unseen = new Map<string, Set<number>>();
    const add = (resourceId: string, slot: number) => {
      let slots = unseen.get(resourceId);
      if (!slots) unseen.set(resourceId, (slots = new Set()));
      slots.add(slot);
    };
    for (const [resourceId, slots] of this.byResource) for (const slot of slots.keys()) add(resourceId, slot);
    if (readStartedAt !== undefined) {
      this.forgetOlderThan(this.now() - KEEP_COMMITTED_MS);
      // Newest last: walk back until the commits the read saw.
      for (let i = this.committed.length - 1; i >= 0 && this.committed[i]!.at >= readStartedAt; i--) add(this.committed[i]!.resourceId, this.committed[i]!.slot);
    }
    return unseen;
  }

  private remember(resourceId: string, slot: number): void {
    const at = this.now();
    this.forgetOlderThan(at - KEEP_COMMITTED_MS);
    this.committed.push({ resourceId, slot, at });
  }

  private forgetOlderThan(limit: number): void {
    let drop = 0;
    while (drop < this.committed.length && this.committed[drop]!.at < limit) drop++;
    if (drop > 0) this.committed.splice(0, drop);
  }
}
