import { spawn, type ChildProcess } from "node:child_process";
import type { Writable } from "node:stream";
import type { SandboxLaunch } from "./local-sandbox";

/**
 * How Node.js runs the helper, before its script: one V8 worker thread instead of one per core.
 * The lease's pids cgroup counts threads (`sandbox.maxProcesses`), and the helper's are taken from
 * the lease's: with Node's defaults and these two, a helper is 14 of them and 8 (two bubblewrap
 * processes and six threads of Node.js).
 */
export const HELPER_NODE_FLAGS = ["--v8-pool-size=1"];

/**
 * What a helper takes of the lease's pids cgroup while it runs (two bubblewrap processes, six
 * threads of Node.js). With fewer left, Node.js does not start: it aborts, or waits for ever on a
 * thread it could not create, so a helper is not started without this much room.
 */
export const HELPER_TASKS = 8;

/**
 * Starts the file helper from its launch: a process group of its own (so it is ended as one),
 * a bare environment (with two threads for its file operations, for the same reason as
 * HELPER_NODE_FLAGS), and its source (`helper`) piped in at fd 5, the first data file of the
 * launch, where the sandbox shows it read-only.
 */
export function spawnHelper(launch: SandboxLaunch, helper: Buffer): ChildProcess {
  const argv = launch.argv;
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ["pipe", "pipe", "pipe", ...launch.stdio],
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", UV_THREADPOOL_SIZE: "2" },
    cwd: "/",
    detached: true,
  });
  const helperPipe = (child.stdio as unknown as (Writable | null)[])[5] ?? null;
  helperPipe?.on("error", () => undefined);
  helperPipe?.end(helper);
  return child;
}
