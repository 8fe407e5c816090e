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

/** A started helper: its process, how to end it, and what it wrote to stderr. */
export interface SpawnedHelper {
  child: ChildProcess;
  /**
   * Ends it, if it still runs: its process group, which the outer bubblewrap leads; with
   * --die-with-parent everything inside the sandbox ends with it.
   */
  kill(): void;
  /** The first line it wrote to stderr, as `: <line>` to end a message with, or "" when it wrote none. */
  reason(): string;
  /** What it wrote to stderr (its first STDERR_KEPT bytes). */
  stderr(): string;
}

/** Of a helper's stderr, what is kept: its error, never a flood. */
const STDERR_KEPT = 64 * 1024;

/**
 * Starts the file helper from its launch: a process group of its own (so it is ended as one),
 * a bare environment (with two threads for its file operations, for the same reason as
 * HELPER_NODE_FLAGS), and its source (`helper`) piped in at fd 5, the first data file of the
 * launch, where the sandbox shows it read-only.
 */
export function spawnHelper(launch: SandboxLaunch, helper: Buffer): SpawnedHelper {
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
  child.stdin!.on("error", () => undefined);
  const err: Buffer[] = [];
  let kept = 0;
  child.stderr!.on("data", (chunk: Buffer) => {
    if (kept >= STDERR_KEPT) return;
    err.push(chunk);
    kept += chunk.length;
  });
  const stderr = () => Buffer.concat(err).toString("utf8");
  return {
    child,
    kill() {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone already
      }
    },
    reason() {
      const line = stderr().trim().split("\n")[0] ?? "";
      return line ? `: ${line.slice(0, 200)}` : "";
    },
    stderr,
  };
}
