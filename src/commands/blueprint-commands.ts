import { streamIdOf } from "../../events/envelope";
import { ValidationError } from "../domain/errors";
import { blueprintFolder } from "../machines/fold";
import { commandOnStream, type Actor, type CommandContext } from "./command-context";

export interface BlueprintDraft {
  name: string;
  kind: string;
  config?: Record<string, unknown>;
  /** Omitted: the implementation's default; null: no limit. */
  resourceLimit?: number | null;
}

async function assertNameFree(ctx: CommandContext, name: string, exceptId?: string) {
  const clash = await ctx.db.selectFrom("blueprints").select("blueprint_id").where("name", "=", name).executeTakeFirst();
  if (clash && clash.blueprint_id !== exceptId) {
    throw new ValidationError(`name: a blueprint named ${JSON.stringify(name)} exists already (${clash.blueprint_id})`, { field: "name" });
  }
}

export async function createBlueprint(ctx: CommandContext, draft: BlueprintDraft, actor: Actor): Promise<string> {
  const impl = ctx.registry.get(draft.kind);
  const config = impl.parseConfig(draft.config ?? {});
  await assertNameFree(ctx, draft.name);
  const blueprintId = ctx.ids.next("blueprint");
  await ctx.store.append(
    streamIdOf("blueprint", blueprintId),
    0,
    [
      {
        type: "BlueprintCreated",
        data: {
          blueprintId,
          name: draft.name,
          kind: draft.kind,
          resourceType: impl.resourceType,
          config,
          resourceLimit: draft.resourceLimit === undefined ? impl.defaultResourceLimit(config) : draft.resourceLimit,
        },
      },
    ],
    actor,
  );
  return blueprintId;
}

export interface BlueprintChange {
  name?: string;
  config?: Record<string, unknown>;
  resourceLimit?: number | null;
}

export async function updateBlueprint(ctx: CommandContext, blueprintId: string, change: BlueprintChange, actor: Actor) {
  if (change.name !== undefined) await assertNameFree(ctx, change.name, blueprintId);
  return commandOnStream(
    ctx,
    blueprintFolder,
    "blueprint",
    streamIdOf("blueprint", blueprintId),
    blueprintId,
    "update",
    (state) => {
      const data: Record<string, unknown> = {};
      if (change.name !== undefined) data.name = change.name;
      if (change.config !== undefined) data.config = ctx.registry.get(state.context.kind).parseConfig(change.config);
      if (change.resourceLimit !== undefined) data.resourceLimit = change.resourceLimit;
      return [{ type: "BlueprintUpdated", data }];
    },
    actor,
  );
}

export function setBlueprintEnabled(ctx: CommandContext, blueprintId: string, enabled: boolean, reason: string | null, actor: Actor) {
  return commandOnStream(
    ctx,
    blueprintFolder,
    "blueprint",
    streamIdOf("blueprint", blueprintId),
    blueprintId,
    enabled ? "enable" : "disable",
    () => [enabled ? { type: "BlueprintEnabled", data: {} } : { type: "BlueprintDisabled", data: { reason } }],
    actor,
  );
}
