import { streamIdOf } from "../../events/envelope";
import type { TokenRole } from "../../events/token-events";
import { commandOnStream, type Actor, type CommandContext } from "../commands/command-context";
import { ValidationError } from "../domain/errors";
import { tokenFolder } from "../machines/fold";
import { ownerNameProblem } from "./principal";
import { generateToken, hashToken } from "./token-secret";

export interface IssuedToken {
  tokenId: string;
  /** The secret: returned to the caller once, stored nowhere (the log keeps its hash). */
  token: string;
  owner: string;
  role: TokenRole;
}

/** Issues a token for a client name with a role; the event carries the hash, never the token. */
export async function issueToken(ctx: CommandContext, request: { owner: string; role: TokenRole }, actor: Actor): Promise<IssuedToken> {
  const problem = ownerNameProblem(request.owner);
  if (problem) throw new ValidationError(`owner: ${problem}`, { field: "owner" });
  const tokenId = ctx.ids.next("token");
  const token = generateToken();
  await ctx.store.append(
    streamIdOf("token", tokenId),
    0,
    [{ type: "TokenIssued", data: { tokenId, owner: request.owner, role: request.role, hash: hashToken(token) } }],
    actor,
  );
  return { tokenId, token, owner: request.owner, role: request.role };
}

/** Revokes a token: the next request with it is refused (401), in every process sharing the database. */
export function revokeToken(ctx: CommandContext, tokenId: string, reason: string | null, actor: Actor) {
  return commandOnStream(ctx, tokenFolder, "token", streamIdOf("token", tokenId), tokenId, "revoke", () => [{ type: "TokenRevoked", data: { reason } }], actor);
}
