import { readdir, readFile } from "node:fs/promises";
import { waitUntil } from "./wait-until";

/**
 * What a user checks on the host (this machine in the tests): the live processes whose argv is
 * exactly `argv`, read from /proc. Tests give their commands a unique argv (`sleep 301.8213`) so
 * that nothing else matches. A zombie does not count: it has exited and only waits to be reaped.
 */
export async function pidsWithArgv(argv: readonly string[]): Promise<number[]> {
  const wanted = `${argv.join("\0")}\0`;
  const pids: number[] = [];
  for (const dir of await readdir("/proc")) {
    const pid = Number(dir);
    if (!Number.isInteger(pid)) continue;
    try {
      if ((await readFile(`/proc/${pid}/cmdline`, "utf8")) !== wanted) continue;
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z") pids.push(pid);
    } catch {
      // exited meanwhile, or not readable
    }
  }
  return pids;
}

/** Waits until a process with this argv runs; fails the test if none comes. */
export async function waitForArgv(argv: readonly string[], timeoutMs = 20_000): Promise<number[]> {
  return waitUntil(`a process ${argv.join(" ")}`, async () => {
    const pids = await pidsWithArgv(argv);
    return pids.length > 0 ? pids : null;
  }, timeoutMs);
}

/** Waits until no process with this argv is left; fails the test (naming the pids) if one stays. */
export async function waitForNoArgv(argv: readonly string[], timeoutMs = 20_000): Promise<void> {
  await waitUntil(`no process ${argv.join(" ")} left`, async () => (await pidsWithArgv(argv)).length === 0, timeoutMs, {
    seen: () => pidsWithArgv(argv),
  });
}

/** For a test's cleanup: SIGKILL whatever still runs with this argv (a failed test must not leak sleeps). */
export async function killArgv(argv: readonly string[]): Promise<void> {
  for (const pid of await pidsWithArgv(argv)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}

/** A `sleep` argv no other test or process has: `sleep <base>.<random digits>`. */
export function uniqueSleep(base: number): string[] {
  return ["sleep", `${base}.${Math.floor(Math.random() * 1e9)}`];
}
