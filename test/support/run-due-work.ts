import type { Drydock } from "../../src/service/drydock";

/**
 * Runs the service's due work by hand until none is due (tests whose worker is off or whose clock
 * is manual). Each run's wake-ups follow its commits in the background (change-notifier.ts):
 * they are flushed before the next look, as a worker woken by them would look after them.
 */
export async function runDueWork(drydock: Pick<Drydock, "notifier" | "worker">, maxRuns = 50): Promise<void> {
  for (let run = 0; run < maxRuns; run++) {
    await drydock.notifier.flush();
    if ((await drydock.worker.runDue()) === 0) return;
  }
  await drydock.notifier.flush();
}
