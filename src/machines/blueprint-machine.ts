import { assign, setup } from "xstate";
import type { BlueprintEvent } from "../../events/blueprint-events";

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

export const blueprintMachine = setup({
  types: { context: {} as BlueprintContext, events: {} as BlueprintMachineEvent },
  actions: {
    create: assign(({ event }) => {
      const e = event as Of<"BlueprintCreated">;
      return { ...e.data, createdAt: e.at };
    }),
    update: assign(({ context, event }) => {
      const { name, config, resourceLimit } = (event as Of<"BlueprintUpdated">).data;
      return {
        name: name ?? context.name,
        config: config ?? context.config,
        resourceLimit: resourceLimit === undefined ? context.resourceLimit : resourceLimit,
      };
    }),
  },
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
