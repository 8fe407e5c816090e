import type { PoolOutcome } from "./simulate-pool";
import type { SimulationWindow, Workload } from "./workload";

/**
 * The figures a simulation is judged by, computed the same way for the recorded run and for each
 * simulated one, so the columns compare like with like.
 *
 * - wait: activation − request, over the leases that activated (percentiles by nearest rank);
 * - peak resources: most resources alive (allocated, not yet released) at once inside the window;
 * - resource-hours: the time resources were alive inside the window, summed (the cost proxy);
 * - waited over N s: leases whose wait exceeded N, counting those never served that waited that
 *   long before they gave up (or for good).
 */
export interface PoolMetrics {
  leases: number;
  served: number;
  waitP50Ms: number | null;
  waitP90Ms: number | null;
  waitP99Ms: number | null;
  peakResources: number;
  resourceHours: number;
  waitedOver: number;
}

export function recordedOutcome(workload: Workload): PoolOutcome {
  return {
    leases: workload.leases.map((l) => ({ leaseId: l.leaseId, requestedAt: l.requestedAt, activatedAt: l.activatedAt, endedAt: l.endedAt, ended: l.ended })),
    resources: workload.resources.map((r) => ({ resourceId: r.resourceId, blueprintId: r.blueprintId, allocatedAt: r.allocatedAt, activatedAt: r.activatedAt, endedAt: r.endedAt })),
  };
}

/** Nearest rank: the smallest value with at least p of the values at or below it. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

export function poolMetrics(outcome: PoolOutcome, window: SimulationWindow, waitOverMs: number): PoolMetrics {
  const waits = outcome.leases.flatMap((l) => (l.activatedAt === null ? [] : [l.activatedAt - l.requestedAt])).sort((a, b) => a - b);
  const waitedOver = outcome.leases.filter((l) => {
    const waited = l.activatedAt !== null ? l.activatedAt - l.requestedAt : (l.endedAt ?? Infinity) - l.requestedAt;
    return waited > waitOverMs;
  }).length;
  return {
    leases: outcome.leases.length,
    served: waits.length,
    waitP50Ms: percentile(waits, 0.5),
    waitP90Ms: percentile(waits, 0.9),
    waitP99Ms: percentile(waits, 0.99),
    ...resourceFigures(outcome, window),
    waitedOver,
  };
}

function resourceFigures(outcome: PoolOutcome, { from, to }: SimulationWindow): { peakResources: number; resourceHours: number } {
  let ms = 0;
  // +1 at each allocation, −1 at each end, clipped to the window; ends sort before starts at one time.
  const steps: [number, number][] = [];
  for (const r of outcome.resources) {
    const start = Math.max(r.allocatedAt, from);
    const end = Math.min(r.endedAt ?? to, to);
    if (end <= start) continue;
    ms += end - start;
    steps.push([start, 1], [end, -1]);
  }
  steps.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let alive = 0;
  let peak = 0;
  for (const [, d] of steps) {
    alive += d;
    peak = Math.max(peak, alive);
  }
  return { peakResources: peak, resourceHours: ms / 3_600_000 };
}
