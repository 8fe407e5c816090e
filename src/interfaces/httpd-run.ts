/**
 * How every adapter runs a server: one command of the lease, through its command interface (or
 * the one `via` names), that runs until it is stopped (the start's signal), crashes, or its lease ends.
 */
import type { CommandInterface, ExecResult } from "./command-interface";
import type { HttpdStartOptions } from "./httpd-interface";

/**
 * The longest a command may run (setTimeout's limit, about 24.8 days): a server is not meant to
 * time out, and its lease's end stops it long before on any lease with a TTL.
 */
export const HTTPD_MAX_RUN_MS = 2_147_483_647;

export function runServer(command: CommandInterface, argv: readonly string[], options: HttpdStartOptions): Promise<ExecResult> {
  return (options.via ?? command).exec(argv, {
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    timeoutMs: HTTPD_MAX_RUN_MS,
    signal: options.signal,
    // The output is seen as it arrives (the registry keeps a short tail); none is kept here.
    maxOutputBytes: 0,
    ...(options.onOutput ? { onOutput: (stream, chunk) => void options.onOutput?.(stream, chunk) } : {}),
  });
}
