import type { WorkloadBlueprint } from "./workload";

/**
 * A changed policy: what the simulation does differently from what was recorded. Blueprints are
 * named by id here (the CLI resolves names, simulate-cli.ts). The empty policy replays the
 * recorded one.
 */
export interface PoolPolicy {
  /** Lease slots of every resource of the blueprint (the initial pool's too). */
  slots: Record<string, number>;
  /** The blueprint's resource limit, for the whole window (recorded limit changes are overridden). */
  limit: Record<string, number>;
  /** A warm pool: the simulation keeps this many idle resources of the blueprint ready (or building). */
  minReady: Record<string, number>;
  /** The queue priority of every lease of the owner. */
  priority: Record<string, number>;
}

export const recordedPolicy: PoolPolicy = { slots: {}, limit: {}, minReady: {}, priority: {} };

export function isRecordedPolicy(p: PoolPolicy): boolean {
  return [p.slots, p.limit, p.minReady, p.priority].every((m) => Object.keys(m).length === 0);
}

/** The policy in words, one phrase per change, for the report. */
export function describePolicy(p: PoolPolicy, blueprints: readonly WorkloadBlueprint[]): string[] {
  const name = (id: string) => blueprints.find((b) => b.blueprintId === id)?.name ?? id;
  return [
    ...Object.entries(p.slots).map(([id, n]) => `${name(id)}: ${n} slot${n === 1 ? "" : "s"} per resource`),
    ...Object.entries(p.limit).map(([id, n]) => `${name(id)}: limit ${n}`),
    ...Object.entries(p.minReady).map(([id, n]) => `${name(id)}: ${n} kept ready`),
    ...Object.entries(p.priority).map(([owner, n]) => `${owner}: priority ${n}`),
  ];
}
