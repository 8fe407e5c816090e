import { parseArgs } from "node:util";
import { DEFAULT_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_SECONDS } from "../interfaces/command-interface";
import type { DrydockClient } from "../client/drydock-client";
import { DrydockError } from "../client/http";
import type { ExecExit } from "../client/wire-types";
import { exitCodeOfSignal, isTerminating, notice, onTermination } from "./termination";

export const execUsage = `usage: drydock exec LEASE_ID [--cwd DIR] [--timeout SECONDS] [--env K=V]... [--shell] -- COMMAND [ARGS...]

Runs COMMAND where the lease lives, printing its stdout and stderr as they come, and exits with its
exit code (128 + n when a signal ended it: 137 for SIGKILL, 143 for SIGTERM).

  --cwd DIR        relative to the lease's directory
  --timeout S      kill the command (TERM, then KILL after 2 s) after S seconds;
                   default ${DEFAULT_TIMEOUT_MS / 1000} s, at most ${MAX_REQUEST_TIMEOUT_SECONDS} s
  --env K=V        an environment variable for the command (repeatable)
  --shell          run COMMAND through /bin/sh -c (one script string; only where the blueprint allows it)

Ctrl-C or SIGTERM cancels the command on the host (it is killed there) before drydock exits with 130 or
143; so does closing drydock's output (\`| head\`, exit 141).`;

/** `drydock exec LEASE [--cwd DIR] [--timeout S] [--env K=V]... -- ARGV...`; exits with the command's code. */
export async function execCommand(client: DrydockClient, args: string[]): Promise<number> {
  const dashdash = args.indexOf("--");
  const own = dashdash >= 0 ? args.slice(0, dashdash) : args.slice(0, 1);
  const argv = dashdash >= 0 ? args.slice(dashdash + 1) : args.slice(1);
  const { values, positionals } = parseArgs({
    args: own,
    options: { cwd: { type: "string" }, timeout: { type: "string" }, env: { type: "string", multiple: true }, shell: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(execUsage);
    return 0;
  }
  const [id] = positionals;
  if (!id || argv.length === 0) throw new Error(execUsage);
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const eq = kv.indexOf("=");
    if (eq < 1) throw new Error(`--env takes K=V, not ${kv}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const timeoutSeconds = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutSeconds !== undefined && !(timeoutSeconds >= 0.1 && timeoutSeconds <= MAX_REQUEST_TIMEOUT_SECONDS)) {
    throw new Error(`--timeout takes seconds from 0.1 to ${MAX_REQUEST_TIMEOUT_SECONDS}, not ${values.timeout}`);
  }

  // Until drydock exits, the command is its to end: Ctrl-C, SIGTERM or a closed stdout cancel it
  // on the host (DELETE, which answers once it has ended), then close the connection, which ends
  // it too (the service kills a command whose client is gone): before the response has come,
  // when its id is not known yet, closing is the only way.
  const connection = new AbortController();
  let commandId: string | null = null;
  const forget = onTermination(async () => {
    if (commandId !== null) {
      await client
        .cancelCommand(id, commandId, { signal: AbortSignal.timeout(18_000) })
        .then(() => notice("drydock: cancelled the command on the host"))
        .catch((error: unknown) => {
          // 404: it ended meanwhile. Anything else: closing the connection below still ends it.
          if (!(error instanceof DrydockError && error.status === 404)) notice(`drydock: could not cancel the command: ${error instanceof Error ? error.message : String(error)}`);
        });
    } else notice("drydock: cancelling the command");
    connection.abort();
  });
  try {
    // Streamed, so output prints while the command runs (a build's log, live).
    const stream = await client.execStream(
      id,
      {
        argv,
        ...(values.cwd ? { cwd: values.cwd } : {}),
        ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
        ...(Object.keys(env).length ? { env } : {}),
        ...(values.shell ? { shell: true } : {}),
      },
      { signal: connection.signal },
    );
    commandId = stream.commandId;
    let result: ExecExit | null = null;
    for await (const line of stream.lines) {
      if ("stream" in line) await write(line.stream === "stdout" ? process.stdout : process.stderr, line.data);
      else if ("exit" in line) result = line.exit;
      else throw new Error(`${line.error.message} (${line.error.code})`);
    }
    if (!result) throw new Error("the connection to the service ended before the command did");
    // Cancelled by drydock's own Ctrl-C or SIGTERM: the cleanup says so, and exits 128 + n for that signal.
    if (isTerminating()) return exitCodeOf(result);
    if (result.timedOut) console.error("drydock: the command timed out and was killed");
    else if (result.cancelled) console.error("drydock: the command was cancelled");
    if (result.signal) console.error(`drydock: the command was ended by ${result.signal}`);
    return exitCodeOf(result);
  } finally {
    forget();
  }
}

/** The command's exit code, or the shell's for the signal that ended it (128 + n). */
export function exitCodeOf(result: Pick<ExecExit, "exitCode" | "signal">): number {
  if (result.exitCode !== null) return result.exitCode;
  // A signal this machine has no number for (the remote host's own): 128, as before.
  return (result.signal ? exitCodeOfSignal(result.signal) : null) ?? 128;
}

/** Waits for a full pipe to drain, so a slow reader of our stdout slows the stream instead of filling memory. */
function write(stream: NodeJS.WriteStream, data: string): Promise<void> {
  return stream.write(data) ? Promise.resolve() : new Promise((resolve) => stream.once("drain", () => resolve()));
}
