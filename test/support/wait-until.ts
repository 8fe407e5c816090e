import type { Drydock } from "../../src/service/drydock";

/**
 * Waits that fail the test when they give up. A wait that returns quietly on timeout lets the
 * assertions after it pass on whatever state was there, or fail far from the cause; these throw,
 * naming what they waited for and the last thing they saw.
 */

/** What a check returns while the condition does not hold yet. */
type NotYet = undefined | null | false;

const show = (value: unknown) => {
  try {
    return JSON.stringify(value)?.slice(0, 500) ?? String(value);
  } catch {
    return String(value);
  }
};

/**
 * Polls `check` every `intervalMs` until it returns something other than undefined, null or
 * false; throws `timed out after <ms> ms waiting for <label>` when `timeoutMs` passes. `seen`
 * (optional) describes the state at the timeout, for the error message.
 */
export async function waitUntil<T>(
  label: string,
  check: () => Promise<T | NotYet> | T | NotYet,
  timeoutMs = 20_000,
  options: { intervalMs?: number; seen?: () => Promise<unknown> | unknown } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() >= deadline) throw await timedOut(label, timeoutMs, options.seen);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

/**
 * Like waitUntil, but re-checks when `streamId` is appended to (the service's NOTIFY watcher)
 * rather than on a timer: for conditions on one stream's projected rows or events.
 */
export async function watchUntil<T>(
  drydock: Pick<Drydock, "watcher">,
  streamId: string,
  label: string,
  check: () => Promise<T | NotYet>,
  timeoutMs = 20_000,
  options: { seen?: () => Promise<unknown> | unknown } = {},
): Promise<T> {
  const value = await drydock.watcher.waitFor(
    streamId,
    async () => {
      const v = await check();
      return v === null || v === false ? undefined : v;
    },
    timeoutMs,
  );
  if (value === undefined) throw await timedOut(label, timeoutMs, options.seen);
  return value as T;
}

async function timedOut(label: string, timeoutMs: number, seen?: () => Promise<unknown> | unknown): Promise<Error> {
  const last = seen ? `; last seen: ${show(await seen())}` : "";
  return new Error(`timed out after ${timeoutMs} ms waiting for ${label}${last}`);
}
