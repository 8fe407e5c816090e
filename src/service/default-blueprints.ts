import { createBlueprint } from "../commands/blueprint-commands";
import type { CommandContext } from "../commands/command-context";
import { NameTakenError } from "../domain/errors";

/**
 * A new service is useful at once: if no `local-host` blueprint exists, make one. Two processes
 * starting together may both try; the unique name (migration 005) lets only the first through.
 */
export async function ensureLocalHostBlueprint(ctx: CommandContext, config: { root?: string; slots?: number }): Promise<void> {
  const existing = await ctx.db.selectFrom("blueprints").select("blueprint_id").where("kind", "=", "local-host").executeTakeFirst();
  if (existing) return;
  try {
    await createBlueprint(
      ctx,
      { name: "local-host", kind: "local-host", config: { ...(config.root ? { root: config.root } : {}), ...(config.slots ? { slots: config.slots } : {}) } },
      { actor: "system" },
    );
  } catch (error) {
    if (!(error instanceof NameTakenError)) throw error;
  }
}
