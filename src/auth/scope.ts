import { isAdmin, type Principal } from "./principal";

/**
 * The owner filter a list of leases runs with: an admin's own choice (any owner, or all); for a
 * client always itself. Null when a client asked for another owner's leases: it sees none, the
 * same answer as for an owner with no leases.
 */
export function leaseOwnerScope(principal: Principal, requested: string | undefined): string | undefined | null {
  if (isAdmin(principal)) return requested;
  if (requested !== undefined && requested !== principal.owner) return null;
  return principal.owner;
}

/** Whose blueprint authorizations a lease request needs: none for an admin, the client's own otherwise. */
export function authorizingObjectOf(principal: Principal): string | null {
  return isAdmin(principal) ? null : principal.owner;
}

/** A client's lists of resources and blueprints are narrowed to its own; an admin's are not. */
export function clientOf(principal: Principal): string | undefined {
  return isAdmin(principal) ? undefined : principal.owner;
}
