import type { LeaseExplanation } from "./explain-lease";

const secs = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

/** `drydock explain lease`'s output: the summary, the timeline with candidates, the waits by cause (pure). */
export function formatExplanation(x: LeaseExplanation): string[] {
  const lines = [x.summary, ""];
  const start = Date.parse(x.requestedAt);
  for (const step of x.timeline) {
    const offset = `+${((Date.parse(step.at) - start) / 1000).toFixed(3)} s`.padStart(11);
    const took = step.durationMs === null ? "" : `  [${secs(step.durationMs)}]`;
    const where = step.streamId.startsWith("lease-") ? `#${step.streamVersion}` : `${step.streamId.slice(step.streamId.indexOf("-") + 1)}#${step.streamVersion}`;
    lines.push(`${offset}  ${step.leaseStatus.padEnd(9)} ${where} ${step.title}${took}`);
    for (const c of step.candidates ?? []) lines.push(`${" ".repeat(24)}${c.kind} ${c.id}: ${c.outcome}, ${c.reason}`);
  }
  if (x.waits.length > 0) {
    lines.push("", `waited ${secs(x.waitedMs)}${x.stillWaiting ? " so far" : ""}:`);
    for (const w of x.waits) lines.push(`  ${secs(w.ms).padStart(10)}  ${w.cause}${w.detail ? `  ${w.detail}` : ""}`);
  }
  return lines;
}
