import type { AllocationView } from "./decide-allocation";

/**
 * The lease slots this Drydock instance's allocations are taking right now: decided on, their
 * append not answered yet. Requests that arrive together read the same capacity view, and each,
 * deciding alone, would pick its lowest free slot: all but one then lose the race at the
 * database (`capacity_conflict`), and read and decide again. Seen as taken, the slots in flight
 * send each request to a slot of its own. The database's slot locks still decide who gets a
 * slot: this only makes a lost race rare among the requests of one instance.
 */
export class SlotsInFlight {
  /** Per resource, each slot in flight with how many allocations are taking it. */
  private readonly byResource = new Map<string, Map<number, number>>();

  /** Marks the slot as being taken; the returned function ends that, once the append has answered. */
  take(resourceId: string, slot: number): () => void {
    let slots = this.byResource.get(resourceId);
    if (!slots) this.byResource.set(resourceId, (slots = new Map()));
    slots.set(slot, (slots.get(slot) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = slots.get(slot)! - 1;
      if (n > 0) slots.set(slot, n);
      else slots.delete(slot);
      if (slots.size === 0 && this.byResource.get(resourceId) === slots) this.byResource.delete(resourceId);
    };
  }

  /** The view with the slots in flight counted as used on their resources. */
  seenIn<V extends Pick<AllocationView, "resources">>(view: V): V {
    if (this.byResource.size === 0) return view;
    return {
      ...view,
      resources: view.resources.map((rc) => {
        const slots = this.byResource.get(rc.resource.resourceId);
        return slots ? { ...rc, usedSlots: [...new Set([...rc.usedSlots, ...slots.keys()])] } : rc;
      }),
    };
  }
}
