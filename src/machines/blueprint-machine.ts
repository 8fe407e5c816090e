import { setup } from "xstate";
import type { BlueprintEvent } from "../../events/blueprint-events";
import { assignEach, type ContextUpdates } from "./context-updates";
import { POOL_POLICY_FIELDS, type PoolPolicy } from "../domain/pool-policy";

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
  /** The cap on a lease's life from its request (BlueprintCreated/Updated); absent in older states: none. */
  maxLeaseSeconds?: number | null;
  /** The pool policy (src/domain/pool-policy.ts), each field absent in older states: none. */
  minReady?: number | null;
  maxLeasesPerResource?: number | null;
  maxAgeSeconds?: number | null;
  idleDestroySeconds?: number | null;
  createdAt: string | null;
  /** Targets (hosts) that failed for a configuration error, one record each, until the config changes. */
  failingTargets: FailingTarget[];
}

export interface FailingTarget {
  target: string;
  /** "shortage": the provider had no capacity (temporary); absent or "configuration": only a fix helps. */
  cause?: "configuration" | "shortage";
  code: string;
  message: string;
  failures: number;
  since: string;
  retryAt: string;
}

type Of<T extends BlueprintMachineEvent["type"]> = Extract<BlueprintMachineEvent, { type: T }>;

/** How each event changes the blueprint's context: the machine's `assign`s and the fast fold call these. */
export const blueprintUpdates = {
  create: (_: BlueprintContext, e: Of<"BlueprintCreated">) => ({ ...e.data, createdAt: e.at, failingTargets: [] }),
  // A config change may be the fix: every target gets another try.
  update: (c: BlueprintContext, e: Of<"BlueprintUpdated">) => ({
    name: e.data.name ?? c.name,
    config: e.data.config ?? c.config,
    resourceLimit: e.data.resourceLimit === undefined ? c.resourceLimit : e.data.resourceLimit,
    maxLeaseSeconds: e.data.maxLeaseSeconds === undefined ? (c.maxLeaseSeconds ?? null) : e.data.maxLeaseSeconds,
    ...poolPolicyUpdate(c, e.data),
    failingTargets: e.data.config === undefined ? c.failingTargets : [],
  }),
  enable: () => ({ failingTargets: [] }),
  targetFailed: (c: BlueprintContext, e: Of<"BlueprintTargetFailed">) => ({
    failingTargets: [...c.failingTargets.filter((f) => f.target !== e.data.target), failingTargetOf(e.data, e.at, c.failingTargets)],
  }),
  targetRecovered: (c: BlueprintContext, e: Of<"BlueprintTargetRecovered">) => ({ failingTargets: c.failingTargets.filter((f) => f.target !== e.data.target) }),
  // A record of cleanup in the cloud (the leak reaper): the blueprint's state does not change. An
  // action, not an empty transition, because a transition that neither moves nor acts is refused.
  instanceReaped: () => ({}),
} satisfies ContextUpdates<BlueprintContext>;

export const blueprintMachine = setup({
  types: { context: {} as BlueprintContext, events: {} as BlueprintMachineEvent },
  actions: assignEach<BlueprintContext, BlueprintMachineEvent, typeof blueprintUpdates>(blueprintUpdates),
}).createMachine({
  id: "blueprint",
  initial: "new",
  context: { blueprintId: "", name: "", kind: "", resourceType: "", config: {}, resourceLimit: null, createdAt: null, failingTargets: [] },
  states: {
    new: { on: { BlueprintCreated: { target: "enabled", actions: "create" } } },
    enabled: {
      on: {
        BlueprintUpdated: { actions: "update" },
        BlueprintDisabled: "disabled",
        BlueprintTargetFailed: { actions: "targetFailed" },
        BlueprintTargetRecovered: { actions: "targetRecovered" },
        BlueprintInstanceReaped: { actions: "instanceReaped" },
      },
    },
    disabled: {
      on: {
        BlueprintUpdated: { actions: "update" },
        BlueprintEnabled: { target: "enabled", actions: "enable" },
        BlueprintTargetFailed: { actions: "targetFailed" },
        BlueprintTargetRecovered: { actions: "targetRecovered" },
        BlueprintInstanceReaped: { actions: "instanceReaped" },
      },
    },
  },
});

/** The record a BlueprintTargetFailed leaves; `since` is when the target's failures in a row began. */
export function failingTargetOf(
  data: { target: string; cause?: "configuration" | "shortage"; code: string; message: string; failures: number; retryAt: string },
  at: string,
  before: readonly FailingTarget[],
): FailingTarget {
  const since = before.find((f) => f.target === data.target)?.since ?? at;
  return { target: data.target, ...(data.cause === "shortage" ? { cause: "shortage" as const } : {}), code: data.code, message: data.message, failures: data.failures, since, retryAt: data.retryAt };
}

/** The pool policy after an update: each field the update names, the others as they were. */
function poolPolicyUpdate(c: BlueprintContext, change: Partial<PoolPolicy>): PoolPolicy {
  return Object.fromEntries(POOL_POLICY_FIELDS.map((f) => [f, change[f] === undefined ? (c[f] ?? null) : change[f]])) as unknown as PoolPolicy;
}
