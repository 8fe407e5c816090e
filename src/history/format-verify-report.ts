import type { VerifyReport, ViolationRule } from "./verify-log";

const ruleText: Record<ViolationRule, string> = {
  "illegal-transition": "illegal transition",
  "after-destroy": "event after destroy",
  "stream-gap": "stream version gap",
  "resource-over-slots": "resource over its slots",
  "blueprint-over-limit": "blueprint over its limit",
  "destroyed-while-held": "destroyed while on hold",
  "hold-released-without-hold": "hold released that was not there",
  "owner-over-quota": "lease acquired over its owner's quota",
  "not-destroyed": "ended but never destroyed",
};

/** `drydock verify`'s report, one fact a line (pure). */
export function formatVerifyReport(report: VerifyReport): string[] {
  const kinds = Object.entries(report.streamsByKind)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${n} ${kind}${n === 1 ? "" : "s"}`)
    .join(", ");
  const range = report.firstPosition === null ? "" : ` (positions ${report.firstPosition}..${report.lastPosition})`;
  const peak = (record: Record<string, number>) => Math.max(0, ...Object.values(record));
  const lines = [
    `checked ${report.events} events${range} in ${report.streams} streams${kinds ? `: ${kinds}` : ""}`,
    `peak live leases on one resource: ${peak(report.peakLeasesPerResource)}; peak live resources of one blueprint: ${peak(report.peakResourcesPerBlueprint)}`,
  ];
  if (report.pendingCleanup.length > 0) {
    lines.push(`${report.pendingCleanup.length} stream(s) ended within the grace period and are still being cleaned up:`);
    for (const p of report.pendingCleanup) lines.push(`  ${p.streamId} ${p.status} since ${p.endedAt}`);
  }
  if (report.held.length > 0) {
    lines.push(`${report.held.length} ended resource(s) kept on hold, destroyed when the hold ends:`);
    for (const h of report.held) lines.push(`  ${h.streamId} ${h.status}, on hold: ${h.reason} (${h.until ? `until ${h.until}` : "until released"})`);
  }
  if (report.violations.length === 0) {
    lines.push("OK: every transition legal, nothing after a destroy, no resource over its slots, no blueprint over its limit, no lease over its owner's quota, every ended stream destroyed");
    return lines;
  }
  lines.push(`FAILED: ${report.violations.length} violation${report.violations.length === 1 ? "" : "s"}`);
  for (const v of report.violations) {
    const where = v.globalPosition === null ? v.streamId : `${v.streamId} version ${v.streamVersion} (position ${v.globalPosition}, ${v.eventType})`;
    lines.push(`  ${ruleText[v.rule]}: ${where}: ${v.message}`);
  }
  return lines;
}
