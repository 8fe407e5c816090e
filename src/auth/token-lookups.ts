import type { Kysely } from "kysely";
import { setNewest } from "../domain/bounded-map";
import type { DrydockDatabase } from "../store/schema";
import type { Principal } from "./principal";
import { principalOfTokenHash, principalOfTokenHashWithLease, principalsOfTokens, type LeaseOwnership, type TokenLookupRequest } from "./token-queries";
import { hashToken } from "./token-secret";

/** Tokens whose principal a process remembers, at most; the oldest is forgotten first. */
const MAX_KNOWN = 10_000;

/** A request's token as the access check takes it: its principal, and who owns its lease (undefined: it is on none). */
export type TokenLookup = { principal: Principal; lease?: LeaseOwnership | null } | null;

interface Waiting extends TokenLookupRequest {
  resolve(found: TokenLookup): void;
  reject(error: unknown): void;
}

/**
 * The token lookups of the requests that arrive together, sent as one statement. Every request's
 * token is still read from the database, at its own request's time, so a revocation still takes
 * effect at the next request in every process; only the round trip is shared.
 *
 * A lookup with no other on its way goes at once, as the one-token statement it always was: a
 * request alone waits for nothing. One that arrives while others are on their way waits for the
 * end of the event loop's turn (setImmediate), and goes with every lookup that arrived in that
 * turn, in one statement (principalsOfTokens). Under a burst the requests then cost a token
 * statement per turn rather than one each.
 *
 * It also remembers, by the token's hash, who each token that worked belongs to (`known`): its
 * id, owner, role and expiry, which a token keeps for its life. A route whose write checks the
 * token itself (token-check.ts) needs no lookup for a token it knows; the rest of a principal
 * (its lease quota, which an admin may change) is never taken from here.
 */
export class TokenLookups {
  private waiting: Waiting[] = [];
  private readonly principals = new Map<string, Principal>();
  /** Token statements on their way. */
  private sending = 0;

  constructor(private readonly db: Kysely<DrydockDatabase>) {}

  lookup(token: string, now: Date, leaseId: string | null): Promise<TokenLookup> {
    return new Promise<TokenLookup>((resolve, reject) => {
      // Hashed once: the statement finds the token by its hash, and `known` remembers it by it.
      const asked = { hash: hashToken(token), now, leaseId, resolve, reject };
      if (this.sending === 0 && this.waiting.length === 0) return void this.send([asked]);
      this.waiting.push(asked);
      if (this.waiting.length === 1) setImmediate(() => void this.send(this.waiting.splice(0)));
    });
  }

  /**
   * The token's id, owner and role, from a lookup it passed before, if it has not expired by
   * `now`; null: not known (never looked up here, forgotten, or found not working since).
   */
  known(token: string, now: Date): Principal | null {
    const principal = this.principals.get(hashToken(token));
    if (!principal || (principal.expiresAt != null && principal.expiresAt <= now)) return null;
    return principal;
  }

  private async send(batch: Waiting[]): Promise<void> {
    this.sending++;
    try {
      const found = batch.length === 1 ? [await single(this.db, batch[0]!)] : await principalsOfTokens(this.db, batch);
      batch.forEach((w, i) => this.remember(w.hash, found[i]!));
      batch.forEach((w, i) => w.resolve(found[i]!));
    } catch (error) {
      for (const w of batch) w.reject(error);
    } finally {
      this.sending--;
    }
  }

  private remember(hash: string, found: TokenLookup): void {
    if (!found) return void this.principals.delete(hash);
    const { tokenId, owner, role, expiresAt } = found.principal;
    setNewest(this.principals, hash, { tokenId, owner, role, expiresAt: expiresAt ?? null }, MAX_KNOWN);
  }
}

async function single(db: Kysely<DrydockDatabase>, { hash, now, leaseId }: TokenLookupRequest): Promise<TokenLookup> {
  if (leaseId !== null) return principalOfTokenHashWithLease(db, hash, now, leaseId);
  const principal = await principalOfTokenHash(db, hash, now);
  return principal && { principal };
}
