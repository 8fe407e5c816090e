import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ClientOrder, ClientReport } from "./lease-client";

/**
 * Runs the order's clients in a process of their own (lease-client.ts) and returns their report,
 * with the CPU this process spent from the order (or, with a warm-up, from its end: `warmed` is
 * called then) to the report: the service's alone, the client process's start left out. A
 * client that stopped on a refused answer throws.
 */
export async function runClientProcess(order: ClientOrder, warmed?: () => void): Promise<{ report: ClientReport; cpu: NodeJS.CpuUsage }> {
  const child = fork(fileURLToPath(new URL("./lease-client.ts", import.meta.url)));
  const { report, cpu } = await new Promise<{ report: ClientReport; cpu: NodeJS.CpuUsage }>((resolve, reject) => {
    let before = process.cpuUsage();
    child.on("message", (m: "ready" | "warmed" | ClientReport) => {
      if (m === "ready") {
        before = process.cpuUsage();
        child.send(order);
      } else if (m === "warmed") {
        before = process.cpuUsage();
        warmed?.();
      } else {
        resolve({ report: m, cpu: process.cpuUsage(before) });
      }
    });
    child.once("exit", (code) => reject(new Error(`the client process exited (${code}) without a report`)));
  });
  if (report.error) throw new Error(`a client stopped: ${report.error}`);
  return { report, cpu };
}

/** The p-th percentile of ascending values (NaN for none). */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
