import { constants } from "node:os";

/**
 * How the CLI ends when it is told to: SIGINT (Ctrl-C), SIGTERM (`timeout`, CI cancelling a job),
 * or a closed stdout or stderr (`drydock … | head`), which is treated as SIGPIPE would be.
 *
 * Invariants:
 * - Whatever the CLI holds on the service (a lease it waits for, a command it streams) is given
 *   back before it exits: each holder registers a cleanup with `onTermination`, and every
 *   registered cleanup runs, for at most CLEANUP_MS, before the exit.
 * - The exit code is the shell's for that signal, 128 + its number (130, 143, 141), so a script
 *   sees the CLI ended as if by the signal.
 * - A closed pipe ends the CLI quietly: no stack trace, and no message (the reader is gone; a
 *   message on stderr would only be noise where stderr is the same pipe).
 * - A second signal while cleaning up exits at once: Ctrl-C twice always works. But the same
 *   signal again within SAME_SIGNAL_MS is the same termination: GNU `timeout` sends its signal to
 *   the command and then to its whole process group, so the CLI often gets SIGTERM twice at once,
 *   and exiting on the second would skip the release the first one started.
 */
export type Termination = "SIGINT" | "SIGTERM" | "SIGPIPE";
type Cleanup = (why: Termination) => Promise<void>;

/** The longest the cleanups may take (a lease release, a command cancel) before the CLI exits anyway. */
const CLEANUP_MS = 20_000;

/** A repeat of the first signal within this long is a duplicate delivery, not a person's second Ctrl-C. */
const SAME_SIGNAL_MS = 500;

const cleanups = new Set<Cleanup>();
let terminating: Termination | null = null;
let terminatingSince = 0;

/** A shell's exit code for a process ended by this signal (`SIGKILL` or `KILL`): 128 + its number; null for an unknown name. */
export function exitCodeOfSignal(name: string): number | null {
  const full = (name.startsWith("SIG") ? name : `SIG${name}`) as keyof typeof constants.signals;
  const n = Object.hasOwn(constants.signals, full) ? constants.signals[full] : undefined;
  return n === undefined ? null : 128 + n;
}

/** Installs the handlers (once, by main, for every command but `serve`). */
export function installTerminationHandlers(): void {
  process.on("SIGINT", () => void terminate("SIGINT"));
  process.on("SIGTERM", () => void terminate("SIGTERM"));
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE" || terminating) {
        void terminate("SIGPIPE");
        return;
      }
      // Not a closed pipe (a full disk under a redirect): say so, if it is not stderr that failed.
      if (stream === process.stderr) process.exit(1);
      process.stderr.write(`drydock: cannot write output: ${error.message}\n`, () => process.exit(1));
    });
  }
}

/** While registered, a termination runs `cleanup` before the CLI exits. Returns the function that unregisters it. */
export function onTermination(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** Whether the CLI is ending on a signal or a closed pipe: failures from then on are expected and not reported. */
export function isTerminating(): boolean {
  return terminating !== null;
}

/** A line on stderr, unless the CLI is ending on a closed pipe (where it could only fail or be noise). */
export function notice(line: string): void {
  if (terminating === "SIGPIPE") return;
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    // stderr closed too: nothing to tell
  }
}

async function terminate(why: Termination): Promise<void> {
  if (terminating) {
    // Writes failing while cleaning up are expected after a closed pipe; another signal is
    // impatience, unless it is the first one delivered again (see the header).
    const duplicate = why === terminating && Date.now() - terminatingSince < SAME_SIGNAL_MS;
    if (why !== "SIGPIPE" && !duplicate) process.exit(exitCodeOfSignal(why)!);
    return;
  }
  terminating = why;
  terminatingSince = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const work = Promise.all([...cleanups].map((cleanup) => cleanup(why).catch(() => {})));
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, CLEANUP_MS)))]);
  clearTimeout(timer);
  process.exit(exitCodeOfSignal(why)!);
}
