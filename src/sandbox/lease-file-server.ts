/**
 * The file helper of a sandboxed lease kept running between small operations (file-helper.mjs,
 * serve mode). Starting the helper is most of what a small read costs (bubblewrap, then Node.js:
 * about 60 ms on a 2-core VM); once started, a request is a round trip over its pipes. It runs in
 * the lease's sandbox, as the lease's user, exactly as a helper of one op does: what it can reach
 * is what the kernel lets the lease reach.
 *
 * Requests are small (a read of at most INLINE_MAX_BYTES, a write of content already in memory, a
 * page of a listing, a removal) and carried out side by side: each has an id, and its answer
 * carries it, in whatever order they finish, so a slow one (a removal of a large tree) holds no
 * other back. How many run at once is the lease's limit of file transfers (the API's). A large
 * read or an upload still gets a helper of its own, streamed. A helper that has had nothing to do
 * for `idleMs` ends (its stdin is closed), so a lease that stopped using its files keeps no
 * process for it.
 */
import { InterfaceUnavailableError } from "../domain/errors";
import type { FileEntry } from "../interfaces/filesystem-interface";
import { frame, FrameReader } from "./helper-frames";
import type { KeptHelper } from "./kept-helpers";
import type { SandboxLaunch } from "./local-sandbox";
import { spawnHelper, type SpawnedHelper } from "./spawn-helper";

/** Reads and writes up to this size go through the kept helper; larger ones are streamed by a helper of their own. */
export const INLINE_MAX_BYTES = 1024 * 1024;
/** The largest answer taken (a page of a listing is far less): anything beyond is a broken helper. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** A helper that has not said it is ready by then is ended: Node.js that could not start a thread waits for ever. */
const START_TIMEOUT_MS = 10_000;
/** How long a stopped helper has to exit by itself before it is killed. */
const STOP_GRACE_MS = 2_000;
/** A request not answered by then ends the helper (as a helper of one op is ended): small operations are quick or broken. */
const REQUEST_TIMEOUT_MS = 120_000;

export interface FileServerRequest {
  op: "read" | "write" | "list" | "remove";
  path: string;
  after?: string;
  limit?: number;
  /** read: the most bytes to answer with; a larger file is answered `inline: false`, without its bytes. */
  max?: number;
}

/** The helper retired (idle) before it took the request: nothing was sent; ask a new one. */
export class FileServerRetired extends Error {
  constructor() {
    super("the lease's file helper retired");
  }
}

/** The helper ended (killed, crashed) before it answered: whether the request was carried out is unknown. */
export class FileServerGone extends InterfaceUnavailableError {}

export type FileServerAnswer =
  | { ok: true; size?: number; inline?: boolean; entries?: FileEntry[]; bytes?: Buffer }
  | { ok: false; code: string; message: string };

interface Pending {
  request: FileServerRequest;
  resolve(answer: FileServerAnswer): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class LeaseFileServer implements KeptHelper {
  private readonly input: FrameReader;
  private readonly pending = new Map<number, Pending>();
  private lastId = 0;
  private idle: NodeJS.Timeout | undefined;
  /** Its exit was seen (and its output marked ended, which is what the others look at). */
  private running = true;
  /** Its idle time ran out: its stdin is closed and it takes no more requests. */
  private retired = false;
  /** stop() ended it (the lease is ending): a request it did not answer is not asked again. */
  private stopped = false;
  /** It said it is ready (its first frame, id 0): it has started. */
  private ready = false;
  private readonly startTimer: NodeJS.Timeout;
  private readonly closed: Promise<void>;

  private constructor(
    private readonly helper: SpawnedHelper,
    private readonly idleMs: number,
    onExit: () => void,
  ) {
    const child = helper.child;
    this.input = new FrameReader(child.stdout!);
    this.closed = new Promise((resolve) => {
      child.on("error", () => this.exited(onExit, resolve));
      child.on("close", () => this.exited(onExit, resolve));
    });
    this.startTimer = setTimeout(() => this.helper.kill(), START_TIMEOUT_MS);
    this.startTimer.unref();
    void this.readAnswers();
    this.rest();
  }

  /** Starts the helper from a launch in serve mode; `helper` is its source, piped in at fd 5. */
  static start(launch: SandboxLaunch, helper: Buffer, idleMs: number, onExit: () => void): LeaseFileServer {
    return new LeaseFileServer(spawnHelper(launch, helper), idleMs, onExit);
  }

  private get child() {
    return this.helper.child;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.retired && !this.input.ended;
  }

  /** Sends one request (with a write's content) and resolves with its answer, whenever it comes. */
  request(request: FileServerRequest, content?: Uint8Array): Promise<FileServerAnswer> {
    if (this.retired && !this.stopped) return Promise.reject(new FileServerRetired());
    if (this.input.ended || this.stopped) return Promise.reject(this.gone());
    clearTimeout(this.idle);
    this.hold(true);
    const id = ++this.lastId;
    const frames = [frame(Buffer.from(JSON.stringify({ ...request, id })))];
    if (request.op === "write") {
      if (content && content.length > 0) frames.push(frame(content));
      frames.push(frame(Buffer.alloc(0)));
    }
    return new Promise<FileServerAnswer>((resolve, reject) => {
      const timer = setTimeout(() => this.helper.kill(), REQUEST_TIMEOUT_MS);
      this.pending.set(id, { request, resolve, reject, timer });
      this.child.stdin!.write(Buffer.concat(frames));
    });
  }

  /**
   * Ends it as it ends when idle, by closing its stdin (after the requests it is carrying out, if
   * any), and resolves once the outer bubblewrap has exited: it exits only after reaping what it
   * started, so no process of the helper is left in the lease's cgroup when the lease's own are
   * counted. A helper that does not exit within STOP_GRACE_MS is killed; its processes inside
   * the sandbox then end a moment after the outer one.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.retired = true;
    clearTimeout(this.idle);
    this.child.stdin!.end();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.closed;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    const grace = setTimeout(() => this.helper.kill(), STOP_GRACE_MS);
    await Promise.race([exited, this.closed]);
    clearTimeout(grace);
    await this.closed;
  }

  /** Answers as they come, each to its request by id, until the helper's output ends. */
  private async readAnswers(): Promise<void> {
    for (;;) {
      const length = await this.input.exact(4);
      if (length === null) return this.failAll(this.gone());
      if (length.readUInt32BE(0) > MAX_ANSWER_BYTES) return this.broken("more than an answer holds");
      const header = await this.input.exact(length.readUInt32BE(0));
      if (header === null) return this.failAll(this.gone());
      const answer = parsedAnswer(header);
      if (answer?.id === 0 && !this.ready) {
        this.ready = true;
        clearTimeout(this.startTimer);
        continue;
      }
      const pending = answer === null ? undefined : this.pending.get(answer.id);
      if (answer === null || pending === undefined) return this.broken("something other than an answer to a request");
      const { id: _id, ...rest } = answer;
      let result: FileServerAnswer = rest;
      if (rest.ok && pending.request.op === "read" && rest.inline) {
        const size = rest.size;
        if (!(Number.isSafeInteger(size) && size! >= 0 && size! <= (pending.request.max ?? 0))) return this.broken("a read's size it was not asked for");
        const bytes = await this.input.exact(size!);
        if (bytes === null) return this.failAll(this.gone());
        result = { ...rest, bytes };
      }
      this.settle(answer.id, (p) => p.resolve(result));
    }
  }

  private settle(id: number, how: (pending: Pending) => void): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    how(pending);
    if (this.pending.size === 0) this.rest();
  }

  private failAll(error: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, (p) => p.reject(error));
  }

  /** A helper waiting for work must not keep the service's process alive; one at work must. */
  private hold(busy: boolean): void {
    const handles = [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as unknown as { ref?(): void; unref?(): void }[];
    for (const handle of handles) (busy ? handle?.ref : handle?.unref)?.call(handle);
  }

  /** Waits for the next request, unreferenced, until its idle time runs out. */
  private rest(): void {
    this.hold(false);
    if (this.input.ended || this.stopped) return;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      this.retired = true;
      this.child.stdin!.end();
    }, this.idleMs);
    this.idle.unref();
  }

  private exited(onExit: () => void, resolve: () => void): void {
    if (this.running) {
      this.running = false;
      clearTimeout(this.idle);
      clearTimeout(this.startTimer);
      this.input.end();
      onExit();
    }
    resolve();
  }

  /** The helper answered outside its protocol: it is ended, and what it had not answered fails as the host's fault. */
  private broken(what: string): void {
    this.helper.kill();
    this.failAll(new InterfaceUnavailableError(`the lease's file helper answered ${what}`));
  }

  private gone(): InterfaceUnavailableError {
    if (this.stopped) return new InterfaceUnavailableError("the lease's file helper was ended with its lease");
    const reason = this.helper.reason();
    if (!this.ready) return new FileServerGone(`the lease's file helper did not start${reason || ` within ${START_TIMEOUT_MS / 1000} s`}`);
    return new FileServerGone(`the lease's file helper ended${reason}`);
  }
}

/** An answer as the helper frames it: its request's id, and the answer. */
function parsedAnswer(header: Buffer): (FileServerAnswer & { id: number }) | null {
  try {
    const answer = JSON.parse(header.toString("utf8")) as unknown;
    if (typeof answer !== "object" || answer === null) return null;
    const { ok, id } = answer as { ok?: unknown; id?: unknown };
    return typeof ok === "boolean" && typeof id === "number" ? (answer as FileServerAnswer & { id: number }) : null;
  } catch {
    return null;
  }
}
