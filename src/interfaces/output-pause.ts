/** What both adapters read output from: child_process pipes, ssh2 channels and their stderr. */
export interface PausableStream {
  pause(): unknown;
  resume(): unknown;
}

/**
 * The adapters' side of ExecOptions.onOutput's backpressure: given what the listener returned for
 * a chunk (`pace`), pauses every output stream of the command while that promise is pending, and
 * resumes them all once it settles (fulfilled or rejected alike: a failing consumer must not
 * freeze the command).
 *
 * stdout and stderr pause together, so neither can flood memory while the consumer is full (and
 * over SSH they share one flow-control window anyway). When a newer pause arrives before an older
 * one settles (a chunk read just before the pause), only the newest one resumes.
 *
 * Pausing a Node stream stops its 'data' events; its own buffer then fills to its highWaterMark,
 * after which Node stops reading the pipe (and ssh2 stops widening the channel's window), so the
 * process blocks on its write. Resuming a stream already destroyed is harmless.
 */
export class OutputPacer {
  private current: PromiseLike<unknown> | null = null;
  private released = false;

  constructor(private readonly streams: readonly PausableStream[]) {}

  /** Takes what onOutput returned for a chunk: a promise pauses the streams until it settles. */
  pace(pause: unknown): void {
    if (this.released || !isThenable(pause)) return;
    // Paused again even for the pause already in effect: something else may have resumed the
    // streams meanwhile (Node resumes a child's stdout and stderr when it exits, and a
    // grandchild may still be writing to them).
    for (const stream of this.streams) stream.pause();
    if (pause === this.current) return;
    const mine = pause;
    this.current = mine;
    const resume = () => {
      if (this.current !== mine) return;
      this.current = null;
      if (!this.released) for (const stream of this.streams) stream.resume();
    };
    // Promise.resolve: a thenable whose `then` throws must not throw into the stream's handler.
    Promise.resolve(mine).then(resume, resume);
  }

  /**
   * Resumes for good, ignoring pauses from then on: for an adapter giving up on a command (the
   * timeout ended it) whose transport only reports its end once what it buffered has been read,
   * as an ssh2 channel does. What is read then still goes to the listener, once: it is at most
   * what the transport buffered, so memory stays bounded.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.current = null;
    for (const stream of this.streams) stream.resume();
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  try {
    return typeof (value as PromiseLike<unknown>).then === "function";
  } catch {
    return false; // a throwing `then` getter: not a pause
  }
}
