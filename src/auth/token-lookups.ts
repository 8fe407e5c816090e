import type { Kysely } from "kysely";
import type { DrydockDatabase } from "../store/schema";
import type { Principal } from "./principal";
import { principalOfToken, principalOfTokenWithLease, principalsOfTokens, type LeaseOwnership, type TokenLookupRequest } from "./token-queries";

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
 */
export class TokenLookups {
  private waiting: Waiting[] = [];
  /** Token statements on their way. */
  private sending = 0;

  constructor(private readonly db: Kysely<DrydockDatabase>) {}

  lookup(token: string, now: Date, leaseId: string | null): Promise<TokenLookup> {
    return new Promise<TokenLookup>((resolve, reject) => {
      const asked = { token, now, leaseId, resolve, reject };
      if (this.sending === 0 && this.waiting.length === 0) return void this.send([asked]);
      this.waiting.push(asked);
      if (this.waiting.length === 1) setImmediate(() => void this.send(this.waiting.splice(0)));
    });
  }

  private async send(batch: Waiting[]): Promise<void> {
    this.sending++;
    try {
      const found = batch.length === 1 ? [await single(this.db, batch[0]!)] : await principalsOfTokens(this.db, batch);
      batch.forEach((w, i) => w.resolve(found[i]!));
    } catch (error) {
      for (const w of batch) w.reject(error);
    } finally {
      this.sending--;
    }
  }
}

async function single(db: Kysely<DrydockDatabase>, { token, now, leaseId }: TokenLookupRequest): Promise<TokenLookup> {
  if (leaseId !== null) return principalOfTokenWithLease(db, token, now, leaseId);
  const principal = await principalOfToken(db, token, now);
  return principal && { principal };
}
