import type { CompiledQuery, Kysely } from "kysely";
import { UnauthorizedError } from "../domain/errors";
import type { LeaseQuota } from "../domain/lease-quota";
import type { AppendCondition } from "../store/append-condition";
import type { DrydockDatabase } from "../store/schema";
import type { Principal } from "./principal";
import { tokenWorksForShare } from "./token-queries";

/** What a token sets for the leases it asks for, which an admin may change while it works: read fresh for every lease request. */
export interface TokenTerms {
  defaultLeaseTtlSeconds: number | null;
  leaseQuota: LeaseQuota | null;
}

/**
 * A token to be read by the request's own statement (TokenCheck): its id and the request's time.
 * `found` hands over what that statement found, null when the token does not work at `at`; it
 * throws the refusal then, and otherwise returns the terms.
 */
export interface TokenReadAlong {
  readonly tokenId: string;
  readonly at: Date;
  found(terms: TokenTerms | null): TokenTerms;
}

/**
 * A request's token, checked by the request's handler instead of a read before it, in a statement
 * the request sends anyway (RouteDeclaration.tokenCheckedByHandler):
 *
 * - In its write: the condition its append carries (append-condition.ts) that the token works at
 *   the request's time (active, not past its expiry), in the append's own statement, with the
 *   token's row locked until the commit. A revocation therefore lands before the write (which is
 *   then refused with a 401 and stores nothing) or after it, never in between; with a read
 *   first, it could land in between. A release does this.
 * - In the read its decision is made from, before anything is stored (TokenReadAlong): the
 *   token's row joined to it, with its terms (lease quota, default TTL), which a token known
 *   from an earlier request cannot be trusted to still have. A lease request does this, in its
 *   capacity view. As strong as a read first, which it replaces.
 * - By itself (`principal()`), on a path that sends nothing to carry it, before that path stores
 *   anything: the read first, as on any other route.
 *
 * `checked` tells the auth middleware that one of these happened: the token worked when the
 * request acted. A request that ends without (refused, failed) has its token read before its
 * answer goes out (auth-middleware.ts), so no answer is ever given on a token that does not work.
 */
export class TokenCheck implements AppendCondition, TokenReadAlong {
  readonly name: string;
  readonly query: CompiledQuery;
  #checked = false;

  constructor(
    db: Kysely<DrydockDatabase>,
    readonly tokenId: string,
    readonly at: Date,
    /** The whole principal as a read first finds it (null: the token does not work). */
    private readonly lookup: () => Promise<Principal | null>,
  ) {
    this.name = `token ${tokenId}`;
    this.query = tokenWorksForShare(db, { tokenId, at });
  }

  get checked(): boolean {
    return this.#checked;
  }

  refused(): Error {
    return new UnauthorizedError();
  }

  held(): void {
    this.#checked = true;
  }

  found(terms: TokenTerms | null): TokenTerms {
    if (terms === null) throw this.refused();
    this.#checked = true;
    return terms;
  }

  /** The token read now, with all of its principal; throws the refusal when it does not work. */
  async principal(): Promise<Principal> {
    const principal = await this.lookup();
    if (principal === null) throw this.refused();
    this.#checked = true;
    return principal;
  }
}
