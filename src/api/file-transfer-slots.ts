import { TooManyFileTransfersError } from "../domain/errors";

/**
 * File transfers in flight per lease, in this API process: reads and uploads. Each streams as
 * fast as its client reads or sends (a slow client holds it), and on a sandboxed lease each is a
 * helper process in the lease: without a bound, one client could keep hundreds of them alive. A
 * lease may have as many at once as it may run commands (its blueprint's maxConcurrentCommands);
 * one more is refused (429 too_many_file_transfers) before anything is opened. A read holds its
 * slot until its body ends, fails or is cancelled; an upload, until the file is written or dropped.
 */
export class FileTransferSlots {
  private readonly inFlight = new Map<string, number>();

  /** Takes one of the lease's slots; the returned function gives it back (once, however often called). */
  take(leaseId: string, limit: number): () => void {
    const taken = this.inFlight.get(leaseId) ?? 0;
    if (taken >= limit) throw new TooManyFileTransfersError(leaseId, limit);
    this.inFlight.set(leaseId, taken + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const left = (this.inFlight.get(leaseId) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(leaseId);
      else this.inFlight.set(leaseId, left);
    };
  }
}
