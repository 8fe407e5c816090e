import type { BlueprintImplementation } from "../blueprints/blueprint";
import { streamIdOf } from "../../events/envelope";
import { NameTakenError } from "../domain/errors";
import { POOL_POLICY_FIELDS } from "../domain/pool-policy";
import { blueprintFolder } from "../machines/fold";
import { BLUEPRINT_NAME_CONSTRAINT } from "../store/migrations/005-blueprint-name-unique";
import { commandOnStream, type Actor, type CommandContext } from "./command-context";

export interface BlueprintDraft {
  name: string;
  kind: string;
  config?: Record<string, unknown>;
  /** Omitted: the implementation's default; null: no limit. */
  resourceLimit?: number | null;
  /** The cap on a lease's life from its request (src/domain/lease-ttl.ts); omitted or null: none. */
  maxLeaseSeconds?: number | null;
  /** The pool policy (src/domain/pool-policy.ts); each omitted or null: none. */
  minReady?: number | null;
  maxLeasesPerResource?: number | null;
  maxAgeSeconds?: number | null;
  idleDestroySeconds?: number | null;
}

function nameTaken(name: string, blueprintId: string | undefined): NameTakenError {
  const which = blueprintId ? ` (${blueprintId})` : "";
  return new NameTakenError("name", `a blueprint named ${JSON.stringify(name)} exists already${which}`, blueprintId ? { blueprintId } : {});
}

async function assertNameFree(ctx: CommandContext, name: string, exceptId?: string) {
  const clash = await ctx.db.selectFrom("blueprints").select("blueprint_id").where("name", "=", name).executeTakeFirst();
  if (clash && clash.blueprint_id !== exceptId) throw nameTaken(name, clash.blueprint_id);
}

/**
 * The check above reads before the append, so two concurrent requests for one name can both pass
 * it; the unique constraint (migration 005) then refuses the later commit, whose whole append
 * rolls back. Its violation becomes the same error the check gives, naming the winner.
 */
async function onNameClash<T>(ctx: CommandContext, name: string | undefined, append: () => Promise<T>): Promise<T> {
  try {
    return await append();
  } catch (error) {
    const e = error as { code?: unknown; constraint?: unknown };
    if (name === undefined || e?.code !== "23505" || e.constraint !== BLUEPRINT_NAME_CONSTRAINT) throw error;
    const winner = await ctx.db.selectFrom("blueprints").select("blueprint_id").where("name", "=", name).executeTakeFirst();
    throw nameTaken(name, winner?.blueprint_id);
  }
}

export async function createBlueprint(ctx: CommandContext, draft: BlueprintDraft, actor: Actor): Promise<string> {
  const impl = ctx.registry.get(draft.kind);
  const config = impl.parseConfig(draft.config ?? {});
  impl.checkEnvironment?.(config);
  await assertNameFree(ctx, draft.name);
  const blueprintId = ctx.ids.next("blueprint");
  const append = () => ctx.store.append(
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
          ...(draft.maxLeaseSeconds != null ? { maxLeaseSeconds: draft.maxLeaseSeconds } : {}),
          // Only the policies set: a blueprint without any records what it did before pools.
          ...Object.fromEntries(POOL_POLICY_FIELDS.filter((f) => draft[f] != null).map((f) => [f, draft[f]])),
        },
      },
    ],
    actor,
  );
  await onNameClash(ctx, draft.name, append);
  return blueprintId;
}

export interface BlueprintChange {
  name?: string;
  config?: Record<string, unknown>;
  resourceLimit?: number | null;
  maxLeaseSeconds?: number | null;
  minReady?: number | null;
  maxLeasesPerResource?: number | null;
  maxAgeSeconds?: number | null;
  idleDestroySeconds?: number | null;
}

export async function updateBlueprint(ctx: CommandContext, blueprintId: string, change: BlueprintChange, actor: Actor) {
  if (change.name !== undefined) await assertNameFree(ctx, change.name, blueprintId);
  return onNameClash(ctx, change.name, () => commandOnStream(
    ctx,
    blueprintFolder,
    "blueprint",
    streamIdOf("blueprint", blueprintId),
    blueprintId,
    "update",
    (state) => {
      const data: Record<string, unknown> = {};
      if (change.name !== undefined) data.name = change.name;
      if (change.config !== undefined) {
        const impl = ctx.registry.get(state.context.kind);
        data.config = impl.parseConfig(change.config);
        impl.checkEnvironment?.(data.config);
      }
      if (change.maxLeaseSeconds !== undefined) data.maxLeaseSeconds = change.maxLeaseSeconds;
      for (const f of POOL_POLICY_FIELDS) if (change[f] !== undefined) data[f] = change[f];
      if (change.resourceLimit !== undefined) data.resourceLimit = change.resourceLimit;
      else if (data.config !== undefined) {
        // A limit that was the config's default follows the config (ec2-host's maxInstances is
        // its limit); one an operator chose stays until the operator changes it.
        const follows = followedLimit(ctx.registry.get(state.context.kind), state.context.config, state.context.resourceLimit, data.config);
        if (follows !== undefined) data.resourceLimit = follows;
      }
      return [{ type: "BlueprintUpdated", data }];
    },
    actor,
  ));
}

/** The new default limit, when the current limit is the old config's default and the default moved. */
function followedLimit(impl: BlueprintImplementation, before: Record<string, unknown>, limit: number | null, after: unknown): number | null | undefined {
  let oldDefault: number | null;
  try {
    oldDefault = impl.defaultResourceLimit(impl.parseConfig(before));
  } catch {
    return undefined; // a config stored by an older version that no longer parses: leave the limit
  }
  const newDefault = impl.defaultResourceLimit(after);
  return limit === oldDefault && newDefault !== oldDefault ? newDefault : undefined;
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

/**
 * Records that the EC2 leak reaper terminated an instance of this blueprint that no live resource
 * owned (BlueprintInstanceReaped): the blueprint's history says which instance went, and why.
 */
export function recordInstanceReaped(
  ctx: Pick<CommandContext, "store">,
  blueprintId: string,
  reaped: { instanceId: string; resourceId: string | null; region: string; reason: string },
  actor: Actor,
) {
  return commandOnStream(ctx, blueprintFolder, "blueprint", streamIdOf("blueprint", blueprintId), blueprintId, "record a reaped instance", () => [{ type: "BlueprintInstanceReaped", data: reaped }], actor);
}
