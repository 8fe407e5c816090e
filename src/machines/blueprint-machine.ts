import { setup } from "xstate";
import type { BlueprintEvent } from "../../events/blueprint-events";
import { assignEach, type ContextUpdates } from "./context-updates";

/** The blueprint lifecycle: enabled <-> disabled. A disabled blueprint builds and leases nothing new. */
export type BlueprintMachineEvent = BlueprintEvent & { at: string };

export type BlueprintStatus = "new" | "enabled" | "disabled";

export interface BlueprintContext {
  blueprintId: string;
  name: string;
  kind: string;
  resourceType: string;
  config: Record<string, unknown>;
  resourceLimit: number | null;
  createdAt: string | null;
}

type Of<T extends BlueprintMachineEvent["type"]> = Extract<BlueprintMachineEvent, { type: T }>;

/** How each event changes the blueprint's context: the machine's `assign`s and the fast fold call these. */
export const blueprintUpdates = {
  create: (_: BlueprintContext, e: Of<"BlueprintCreated">) => ({ ...e.data, createdAt: e.at }),
  update: (c: BlueprintContext, e: Of<"BlueprintUpdated">) => ({
    name: e.data.name ?? c.name,
    config: e.data.config ?? c.config,
    resourceLimit: e.data.resourceLimit === undefined ? c.resourceLimit : e.data.resourceLimit,
  }),
} satisfies ContextUpdates<BlueprintContext>;

export const blueprintMachine = setup({
  types: { context: {} as BlueprintContext, events: {} as BlueprintMachineEvent },
  actions: assignEach<BlueprintContext, BlueprintMachineEvent, typeof blueprintUpdates>(blueprintUpdates),
}).createMachine({
  id: "blueprint",
  initial: "new",
  context: { blueprintId: "", name: "", kind: "", resourceType: "", config: {}, resourceLimit: null, createdAt: null },
  states: {
    new: { on: { BlueprintCreated: { target: "enabled", actions: "create" } } },
    enabled: {
      on: {
        BlueprintUpdated: { actions: "update" },
        BlueprintDisabled: "disabled",
      },
    },
    disabled: {
      on: {
        BlueprintUpdated: { actions: "update" },
        BlueprintEnabled: "enabled",
      },
    },
  },
});
