import { approveAuthorization, requestAuthorization } from "../../src/auth/authorization-commands";
import { createBlueprint } from "../../src/commands/blueprint-commands";
import type { Drydock } from "../../src/service/drydock";

/**
 * A scratch blueprint (test-blueprints.ts: a directory on a leased host) whose resources may
 * lease the local host: its host leases are the blueprint's own doing, so it needs its own
 * approved authorization on local-host. Returns the scratch blueprint's id.
 */
export async function scratchOnLocalHost(drydock: Drydock, actor: { actor: string }): Promise<string> {
  const scratch = await createBlueprint(drydock.commands, { name: "scratch", kind: "scratch-dir", config: { slots: 1 } }, actor);
  const localHost = await drydock.database.db.selectFrom("blueprints").select("blueprint_id").where("kind", "=", "local-host").executeTakeFirstOrThrow();
  const { authorizationId } = await requestAuthorization(drydock.commands, localHost.blueprint_id, `blueprint:${scratch}`, actor);
  await approveAuthorization(drydock.commands, authorizationId, actor);
  return scratch;
}
