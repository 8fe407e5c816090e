import { spawn, type ChildProcess } from "node:child_process";
import type { Writable } from "node:stream";
import type { SandboxLaunch } from "./local-sandbox";

/**
 * Starts the file helper from its launch: a process group of its own (so it is ended as one),
 * a bare environment, and its source (`helper`) piped in at fd 5, the first data file of the
 * launch, where the sandbox shows it read-only.
 */
export function spawnHelper(launch: SandboxLaunch, helper: Buffer): ChildProcess {
  const argv = launch.argv;
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ["pipe", "pipe", "pipe", ...launch.stdio],
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" },
    cwd: "/",
    detached: true,
  });
  const helperPipe = (child.stdio as unknown as (Writable | null)[])[5] ?? null;
  helperPipe?.on("error", () => undefined);
  helperPipe?.end(helper);
  return child;
}
