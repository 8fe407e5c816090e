import type { ChildProcessWithoutNullStreams, ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";

/** What a finished command printed, and how it ended (a user's view of a terminal command). */
export interface FinishedRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Collects a spawned command's output until it exits (stdout and stderr piped). */
export function finishedRun(child: ChildProcessWithoutNullStreams | ChildProcessByStdio<null, Readable, Readable>): Promise<FinishedRun> {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
