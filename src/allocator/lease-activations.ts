/**
 * One activation of a lease at a time in this process: what makes a lease's directories (an
 * inline activation, the activate step) and what removes them (the teardown, the leftover sweep)
 * never overlap for the same lease here.
 *
 * Not what keeps a lease's directories under it: a lease's are named by its id, and a waiting
 * lease can be decided on by two runs at once (a worker's wait gives up the lease's claim, and
 * its look again races the run a release woke), here or in another service on the same host,
 * where nothing of this reaches. What keeps them is that a run whose append lost removes what it
 * made only for a lease the log has never stored (allocate-lease.ts, activateInline).
 *
 * What the hold buys is fewer leftovers: an activation still in flight does not make the
 * directories again after the lease's teardown removed them (which the leftover sweep would
 * remove only after its grace). An inline activation runs only while it holds the lease
 * (tryHold); a run that cannot hold it acquires the lease without activating it, and the activate
 * step, which waits for the hold (hold), makes the directories. A teardown waits too. Nothing
 * here is a source of state: the lease's stream decides what runs.
 */
export class LeaseActivations {
  private readonly held = new Map<string, Promise<void>>();

  /** The lease's hold, or null when another activation holds it. Call the release once, in a finally. */
  tryHold(leaseId: string): (() => void) | null {
    if (this.held.has(leaseId)) return null;
    let done!: () => void;
    this.held.set(leaseId, new Promise<void>((resolve) => (done = resolve)));
    return () => {
      this.held.delete(leaseId);
      done();
    };
  }

  /** Waits until no other activation holds the lease, then holds it. */
  async hold(leaseId: string): Promise<() => void> {
    for (;;) {
      const release = this.tryHold(leaseId);
      if (release) return release;
      await this.held.get(leaseId);
    }
  }
}
