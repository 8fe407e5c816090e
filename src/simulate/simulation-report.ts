import { describePolicy, isRecordedPolicy, recordedPolicy, type PoolPolicy } from "./policy";
import { poolMetrics, recordedOutcome, type PoolMetrics } from "./pool-metrics";
import { simulatePool } from "./simulate-pool";
import type { ImplementationOf } from "./virtual-pool";
import type { Workload } from "./workload";

/**
 * A what-if, side by side: the recorded run, the simulation of the recorded policy (how far the
 * model is from the record: read the changed column against it, not against the record), and the
 * simulation of the changed policy. Pure.
 */
export interface SimulationReport {
  window: { from: string; to: string };
  waitOverSeconds: number;
  changes: string[];
  blueprints: { id: string; name: string; kind: string; buildSeconds: number | null; builds: number; latencySeconds: number | null; activations: number; simulated: boolean }[];
  recorded: PoolMetrics;
  sameSimulated: PoolMetrics;
  /** Absent when no policy change was asked for. */
  changedSimulated: PoolMetrics | null;
  notModeled: string[];
}

export const NOT_MODELED = [
  "failures (broken resources, failed builds and their retries, health checks)",
  "variance: every build, and every lease activation once its capacity is there, takes its blueprint's recorded median",
  "authorizations, holds and operator releases: every lease may use what its request allows",
  "leases a resource holds (a working copy's host) arrive as recorded, not with their resource",
];

export function simulationReport(workload: Workload, policy: PoolPolicy, implementationOf: ImplementationOf, options: { waitOverSeconds: number; reclaimIdleMs: number }): SimulationReport {
  const waitOverMs = options.waitOverSeconds * 1000;
  const run = (p: PoolPolicy) => poolMetrics(simulatePool({ workload, policy: p, implementationOf, reclaimIdleMs: options.reclaimIdleMs }), workload.window, waitOverMs);
  return {
    window: { from: new Date(workload.window.from).toISOString(), to: new Date(workload.window.to).toISOString() },
    waitOverSeconds: options.waitOverSeconds,
    changes: describePolicy(policy, workload.blueprints),
    blueprints: workload.blueprints.map((b) => ({
      id: b.blueprintId,
      name: b.name,
      kind: b.kind,
      buildSeconds: b.buildMs === null ? null : b.buildMs / 1000,
      builds: b.builds,
      latencySeconds: b.latencyMs === null ? null : b.latencyMs / 1000,
      activations: b.activations,
      simulated: implementationOf(b.kind) !== undefined,
    })),
    recorded: poolMetrics(recordedOutcome(workload), workload.window, waitOverMs),
    sameSimulated: run(recordedPolicy),
    changedSimulated: isRecordedPolicy(policy) ? null : run(policy),
    notModeled: NOT_MODELED,
  };
}

const seconds = (ms: number | null) => (ms === null ? "-" : `${(ms / 1000).toFixed(1)} s`);

/** The report as a plain table and notes, one line per element. */
export function formatSimulation(report: SimulationReport): string[] {
  const columns: [string, PoolMetrics][] = [
    ["recorded", report.recorded],
    ["simulated (same policy)", report.sameSimulated],
    ...(report.changedSimulated ? [["simulated (changed)", report.changedSimulated] as [string, PoolMetrics]] : []),
  ];
  const rows: [string, (m: PoolMetrics) => string][] = [
    ["leases (activated)", (m) => `${m.leases} (${m.served})`],
    ["wait p50", (m) => seconds(m.waitP50Ms)],
    ["wait p90", (m) => seconds(m.waitP90Ms)],
    ["wait p99", (m) => seconds(m.waitP99Ms)],
    ["peak resources", (m) => String(m.peakResources)],
    ["resource-hours", (m) => m.resourceHours.toFixed(3)],
    [`waited > ${report.waitOverSeconds} s`, (m) => String(m.waitedOver)],
  ];
  const cells = [["", ...columns.map(([name]) => name)], ...rows.map(([label, f]) => [label, ...columns.map(([, m]) => f(m))])];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const lines = [`window ${report.window.from} .. ${report.window.to}`];
  lines.push(`changes: ${report.changes.length === 0 ? "none (the recorded policy only)" : report.changes.join(", ")}`);
  for (const b of report.blueprints) {
    const build = b.buildSeconds === null ? "no recorded build: builds take 0 s" : `build ${b.buildSeconds.toFixed(1)} s (median of ${b.builds})`;
    const latency = b.latencySeconds === null ? "no recorded activation: leases activate at once" : `lease activation ${b.latencySeconds.toFixed(2)} s after capacity frees (median of ${b.activations})`;
    lines.push(`blueprint ${b.name} (${b.kind}): ${b.simulated ? `${build}, ${latency}` : "kind unknown to this process: not simulated"}`);
  }
  lines.push("");
  for (const r of cells) lines.push(r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join("  ").trimEnd());
  lines.push("");
  lines.push(`not modeled: ${report.notModeled.join("; ")}.`);
  return lines;
}
