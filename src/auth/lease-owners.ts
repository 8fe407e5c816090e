import { setNewest } from "../domain/bounded-map";
import type { LeaseOwnership } from "./token-queries";

/** Leases whose owner a process remembers, at most; the oldest is forgotten first. */
const MAX_LEASES = 10_000;

/**
 * Who owns the leases this process created or read the owner of. A lease's owner and authorizing
 * object are fixed when it is requested and never change, and lease ids are never reused, so a
 * remembered owner is never stale: the auth middleware may check a request on a lease against it
 * without a read (auth-middleware.ts, the token checked by the write). A lease it does not know
 * is read as before.
 */
export class LeaseOwners {
  private readonly owners = new Map<string, LeaseOwnership>();

  remember(leaseId: string, ownership: LeaseOwnership): void {
    setNewest(this.owners, leaseId, ownership, MAX_LEASES);
  }

  get(leaseId: string): LeaseOwnership | undefined {
    return this.owners.get(leaseId);
  }
}
