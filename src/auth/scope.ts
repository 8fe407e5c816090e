import { isAdmin, type Principal } from "./principal";

/**
 * A client's own leases are those it asked for itself: its name is their owner AND their
 * authorizing object (`leases.authorizing_object`, from LeaseRequested). An admin's lease has
 * no authorizing object, so a client never reaches it, even where a client token carries the
 * admin's owner name (issued before a name was kept to one role).
 */
export interface LeaseScope {
  owner?: string;
  authorizingObject?: string;
}

/**
 * The lease filter a list runs with: an admin's own choice (any owner, or all); for a client
 * always its own leases. Null when a client asked for another owner's leases: it sees none, the
 * same answer as for an owner with no leases.
 */
export function leaseOwnerScope(principal: Principal, requested: string | undefined): LeaseScope | null {
  if (isAdmin(principal)) return { owner: requested };
  if (requested !== undefined && requested !== principal.owner) return null;
  return { owner: principal.owner, authorizingObject: principal.owner };
}

/** Whose blueprint authorizations a lease request needs: none for an admin, the client's own otherwise. */
export function authorizingObjectOf(principal: Principal): string | null {
  return isAdmin(principal) ? null : principal.owner;
}

/** A client's lists of resources and blueprints are narrowed to its own; an admin's are not. */
export function clientOf(principal: Principal): string | undefined {
  return isAdmin(principal) ? undefined : principal.owner;
}
