/**
 * One activation of a lease at a time in this process: what makes a lease's directories (an
 * inline activation, the activate step) and what removes them (an inline activation's undo, the
 * teardown) never overlap for the same lease.
 *
 * Why: a waiting lease can be decided on by two runs at once (a worker's wait gives up the
 * lease's claim, and its look again races the run a release woke: allocate-lease.ts). A lease's
 * directories are named by its id, so two runs activating it inline make the same ones, and the
 * run whose append lost removed them as its undo, under the run that won: an active lease with
 * no directory. Now an inline activation runs only while it holds the lease (tryHold); a run that
 * cannot hold it acquires the lease without activating it, and the activate step, which waits
 * for the hold (hold), makes the directories once the loser's undo is done. A teardown waits too,
 * so an activation still in flight cannot make them again after it.
 *
 * Within one process only: two service processes sharing one local host's root are not kept
 * apart here. Nothing here is a source of state: the lease's stream decides what runs.
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
