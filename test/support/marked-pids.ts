import { readdir, readFile } from "node:fs/promises";

/**
 * What a user checks on the host (this machine in the tests): the processes whose environment
 * holds `NAME=value` exactly, read from /proc independently of the shell scripts under test.
 */
export async function markedPids(name: string, value: string): Promise<number[]> {
  const entry = `${name}=${value}`;
  const pids: number[] = [];
  for (const dir of await readdir("/proc")) {
    const pid = Number(dir);
    if (!Number.isInteger(pid)) continue;
    try {
      const environ = await readFile(`/proc/${pid}/environ`, "latin1");
      if (environ.split("\0").includes(entry)) pids.push(pid);
    } catch {
      // exited meanwhile, or not ours
    }
  }
  return pids.sort((a, b) => a - b);
}

/** argv of a process joined by spaces, or null once it is gone. */
export async function commandOf(pid: number): Promise<string | null> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").filter(Boolean).join(" ");
  } catch {
    return null;
  }
}

/** For a test's cleanup: SIGKILL whatever still carries the marker (a failed test must not leak sleeps). */
export async function killMarked(name: string, value: string): Promise<void> {
  for (const pid of await markedPids(name, value)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}
