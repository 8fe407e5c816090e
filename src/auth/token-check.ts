import type { CompiledQuery, Kysely } from "kysely";
import { UnauthorizedError } from "../domain/errors";
import type { AppendCondition } from "../store/append-condition";
import type { DrydockDatabase } from "../store/schema";
import { tokenWorksForShare } from "./token-queries";

/**
 * A request's token, checked by the request's write instead of a read before it: the condition
 * its append carries (append-condition.ts) that the token works at the request's time (active,
 * not past its expiry), in the append's own statement, with the token's row locked until the
 * commit. A revocation therefore lands before the write (which is then refused with a 401 and
 * stores nothing) or after it, never in between; with a read first, it could land in between.
 *
 * `checked` tells the auth middleware that a write held it: the token worked when the request's
 * effect was stored. A request that ends without such a write has its token read before its
 * answer goes out (auth-middleware.ts), so no answer is ever given on a token that does not work.
 */
export class TokenCheck implements AppendCondition {
  readonly name: string;
  readonly query: CompiledQuery;
  #checked = false;

  constructor(db: Kysely<DrydockDatabase>, tokenId: string, at: Date) {
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
}
