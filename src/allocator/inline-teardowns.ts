import type { BlueprintView, ResourceView } from "../blueprints/blueprint";
import { setNewest } from "../domain/bounded-map";

/** What a lease's teardown hands its blueprint: the blueprint and resource its activation went by. */
export interface TeardownTarget {
  blueprint: BlueprintView;
  resource: ResourceView;
}

/** Leases remembered at most; past it the oldest is forgotten, and its teardown reads its resource as any other. */
const DEFAULT_MAX_LEASES = 10_000;

/**
 * The blueprint and resource of each lease this instance activated inline (activatesLeaseInline:
 * a directory on this machine), as the allocation view showed them then, kept until its
 * teardown. The teardown undoes what the activation made, so it goes by what the activation went
 * by, and needs no read of the resource and its blueprint: one statement less a lease cycle.
 *
 * A lease this instance did not activate (another instance did, or this one restarted since) is
 * not here: its teardown reads them, as before. Nothing here is a source of state: the lease's
 * stream still decides whether a teardown is due, and the store checks its LeaseDestroyed.
 */
export class InlineTeardowns {
  private readonly byLease = new Map<string, TeardownTarget>();

  constructor(private readonly maxLeases = DEFAULT_MAX_LEASES) {}

  /** After the activation's append committed. */
  remember(leaseId: string, target: TeardownTarget): void {
    setNewest(this.byLease, leaseId, target, this.maxLeases);
  }

  /** The lease's target, forgotten as it is handed out: a teardown runs once. */
  take(leaseId: string): TeardownTarget | undefined {
    const target = this.byLease.get(leaseId);
    this.byLease.delete(leaseId);
    return target;
  }

  get size(): number {
    return this.byLease.size;
  }
}
