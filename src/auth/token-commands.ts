import { sql } from "kysely";
import { streamIdOf } from "../../events/envelope";
import type { TokenRole } from "../../events/token-events";
import { commandOnStream, type Actor, type CommandContext } from "../commands/command-context";
import { NameTakenError, ValidationError } from "../domain/errors";
import { leaseQuotaSchema, type LeaseQuota } from "../domain/lease-quota";
import { MAX_TTL_SECONDS } from "../domain/lease-ttl";
import { parseOrThrow } from "../domain/parse";
import { tokenFolder } from "../machines/fold";
import type { Executor } from "../store/projection";
import { ownerNameProblem } from "./principal";
import { generateToken, hashToken } from "./token-secret";

export interface IssuedToken {
  tokenId: string;
  /** The secret: returned to the caller once, stored nowhere (the log keeps its hash). */
  token: string;
  owner: string;
  role: TokenRole;
}

/** The longest a token may be issued for with an expiry: ten years. */
export const MAX_TOKEN_SECONDS = 10 * 365 * 24 * 3600;

/**
 * Issues a token for a client name with a role; the event carries the hash, never the token.
 * `defaultLeaseTtlSeconds`: the TTL of the leases it asks for without naming one.
 */
export async function issueToken(
  ctx: CommandContext,
  request: { owner: string; role: TokenRole; defaultLeaseTtlSeconds?: number | undefined; expiresInSeconds?: number | undefined; leaseQuota?: LeaseQuota | undefined },
  actor: Actor,
): Promise<IssuedToken> {
  const problem = ownerNameProblem(request.owner);
  if (problem) throw new ValidationError(`owner: ${problem}`, { field: "owner" });
  const ttl = request.defaultLeaseTtlSeconds;
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS)) {
    throw new ValidationError(`defaultLeaseTtlSeconds: must be a whole number between 1 and ${MAX_TTL_SECONDS}`, { field: "defaultLeaseTtlSeconds" });
  }
  const life = request.expiresInSeconds;
  if (life !== undefined && (!Number.isInteger(life) || life < 1 || life > MAX_TOKEN_SECONDS)) {
    throw new ValidationError(`expiresInSeconds: must be a whole number between 1 and ${MAX_TOKEN_SECONDS}`, { field: "expiresInSeconds" });
  }
  const leaseQuota = request.leaseQuota === undefined ? undefined : parseOrThrow(leaseQuotaSchema, request.leaseQuota, "leaseQuota");
  const expiresAt = life === undefined ? undefined : new Date(ctx.clock.now().getTime() + life * 1000).toISOString();
  const tokenId = ctx.ids.next("token");
  const token = generateToken();
  await ctx.store.append(
    streamIdOf("token", tokenId),
    0,
    [{ type: "TokenIssued", data: { tokenId, owner: request.owner, role: request.role, hash: hashToken(token), ...(ttl === undefined ? {} : { defaultLeaseTtlSeconds: ttl }), ...(expiresAt === undefined ? {} : { expiresAt }), ...(leaseQuota === undefined ? {} : { leaseQuota }) } }],
    actor,
    { precondition: (trx) => assertOwnerNameKeepsItsRole(trx, request.owner, request.role) },
  );
  return { tokenId, token, owner: request.owner, role: request.role };
}

/** Revokes a token: the next request with it is refused (401), in every process sharing the database. */
export function revokeToken(ctx: CommandContext, tokenId: string, reason: string | null, actor: Actor) {
  return commandOnStream(ctx, tokenFolder, "token", streamIdOf("token", tokenId), tokenId, "revoke", () => [{ type: "TokenRevoked", data: { reason } }], actor);
}

/** Namespaces the advisory locks below (the first key of pg_advisory_xact_lock's two). */
const OWNER_NAME_LOCK = 0x64646b01;

/**
 * An owner name belongs to one role: the role of its first token, active or revoked. Otherwise a
 * client token named `admin` would act as the admin's principal wherever a name is compared
 * (the actor in the log, authorizations, ownership of leases created before authorizing objects).
 *
 * Runs in the transaction that appends the TokenIssued event (see AppendOptions.precondition),
 * under a transaction-scoped advisory lock on the name: a concurrent issue for the same name
 * waits until this one commits, and its read (READ COMMITTED, the default: each statement sees
 * what committed before it began) then sees this token. Two roles asked for at once thus cannot
 * both get the name. Not a projection rule: tokens of both roles issued before the rule stay in
 * the log, and a rebuild replays them as they are.
 */
export async function assertOwnerNameKeepsItsRole(trx: Executor, owner: string, role: TokenRole): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${OWNER_NAME_LOCK}, hashtext(${owner}))`.execute(trx);
  const other = await trx.selectFrom("tokens").select("role").where("owner", "=", owner).where("role", "<>", role).executeTakeFirst();
  if (other) {
    throw new NameTakenError("owner", `${JSON.stringify(owner)} already names ${other.role} tokens; a name belongs to one role, so choose another owner name for this ${role} token`, {
      owner,
      role: other.role,
    });
  }
}
