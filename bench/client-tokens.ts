import { approveAuthorization, requestAuthorization } from "../src/auth/authorization-commands";
import { issueToken } from "../src/auth/token-commands";
import type { Drydock } from "../src/service/drydock";

/**
 * One token for each of `clients` bench clients, each a client as in production: its own token
 * (owner `bench-<i>`), an approved authorization on the local host, and the ownership check on
 * every call.
 */
export async function localHostClientTokens(drydock: Drydock, clients: number): Promise<string[]> {
  const localHost = await drydock.database.db.selectFrom("blueprints").select("blueprint_id").where("kind", "=", "local-host").executeTakeFirstOrThrow();
  const tokens: string[] = [];
  for (let i = 0; i < clients; i++) {
    const { token, owner } = await issueToken(drydock.commands, { owner: `bench-${i}`, role: "client" }, { actor: "bench" });
    const { authorizationId } = await requestAuthorization(drydock.commands, localHost.blueprint_id, owner, { actor: "bench" });
    await approveAuthorization(drydock.commands, authorizationId, { actor: "bench" });
    tokens.push(token);
  }
  return tokens;
}
