/** A helper process kept running for a lease between its uses (its file server). */
export interface KeptHelper {
  /** False once it has exited or been stopped: it takes no more requests. */
  readonly alive: boolean;
  /** Its outermost process, the parent of the rest (undefined if it never started). */
  readonly pid: number | undefined;
  /** Ends it, and resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * At most one kept helper per lease, started on first use. A lease's end stops its helper before
 * its processes are killed and counted: the helper is the service's, not the lease's, and must not
 * show among the processes the lease left running.
 */
export class KeptHelpers {
  private readonly byLease = new Map<string, Promise<KeptHelper>>();

  /** The lease's live helper, or a new one from `start`; callers at the same moment share one start. */
  async get<T extends KeptHelper>(leaseId: string, start: () => Promise<T>): Promise<T> {
    const kept = this.byLease.get(leaseId) as Promise<T> | undefined;
    if (kept) {
      const helper = await kept.catch(() => null);
      if (helper?.alive) return helper;
      if (this.byLease.get(leaseId) === kept) this.byLease.delete(leaseId);
      // Another caller may have started the next one while this one looked.
      const next = this.byLease.get(leaseId) as Promise<T> | undefined;
      if (next) return next;
    }
    const started = start();
    this.byLease.set(leaseId, started);
    started.catch(() => {
      if (this.byLease.get(leaseId) === started) this.byLease.delete(leaseId);
    });
    return started;
  }

  /** Forgets the lease's helper if it is this one (it exited on its own). */
  forget(leaseId: string, helper: KeptHelper): void {
    const kept = this.byLease.get(leaseId);
    void kept?.then((current) => {
      if (current === helper && this.byLease.get(leaseId) === kept) this.byLease.delete(leaseId);
    }, () => undefined);
  }

  /** The lease's helper, no longer kept (the caller stops it), or null when it has none. */
  async take(leaseId: string): Promise<KeptHelper | null> {
    const kept = this.byLease.get(leaseId);
    this.byLease.delete(leaseId);
    return (await kept?.catch(() => null)) ?? null;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.byLease.keys()].map(async (leaseId) => (await this.take(leaseId))?.stop()));
  }
}
