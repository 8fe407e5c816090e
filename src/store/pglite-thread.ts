import { Worker } from "node:worker_threads";
import { pgliteArtifacts } from "./pglite-artifacts";
import { parseJsonFields, type PGliteThreadReply, type PGliteThreadRequest, type PGliteThreadStart } from "./pglite-thread-protocol";
import { pgliteWorkerEntry } from "./pglite-worker-entry";

/** What a statement gives back: its rows, and how many it changed (null: not a change). */
export interface PGliteResult<R> {
  rows: R[];
  affectedRows: number | null;
}

type Pending = { resolve(reply: PGliteThreadReply): void; reject(error: unknown): void };
type Request = PGliteThreadRequest extends infer T ? (T extends { id: number } ? Omit<T, "id"> : never) : never;

/**
 * The embedded database in a thread of its own (pglite-worker.ts). PGlite runs PostgreSQL as
 * WebAssembly in the thread that calls it; in the service's thread, every statement's execution
 * took its turn with the HTTP handling and the allocator's decisions, so a lease cycle's cost
 * was the sum of both, on one core. In its own thread the database executes while the service
 * works, and the service's connections hand it statements as they come (pglite-dialect.ts).
 *
 * Rows and errors cross as messages (structured clones: Dates, objects and byte arrays as they
 * are); an error keeps its fields (code, detail, constraint, the statement and its parameters).
 * If the thread stops (PGlite aborted), every statement waiting and every later one fails.
 */
export class PGliteThread {
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  private next = 0;
  private stopped: Error | null = null;

  private constructor(private readonly worker: Worker) {
    // Alive while a request waits for its answer, as a socket with a query on it; idle, the
    // thread keeps no process from ending (a CLI command that is done), as PGlite in the process did not.
    worker.unref();
    worker.on("message", (reply: PGliteThreadReply) => this.receive(reply));
    worker.on("error", (error) => this.stop(error));
    worker.on("exit", (code) => this.stop(new Error(`PGlite's thread stopped (exit code ${code})`)));
  }

  /** Starts the thread and opens the database in it; resolves once it is ready for statements. */
  static async start(start: PGliteThreadStart): Promise<PGliteThread> {
    const transferList = start.template ? [start.template.buffer as ArrayBuffer] : [];
    // A process's first thread waits for both at once: the compile, and from the sources the bundle.
    const [artifacts, entry] = await Promise.all([pgliteArtifacts(), pgliteWorkerEntry()]);
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { ...start, ...artifacts, ...entry }, transferList, execArgv: [] });
    await new Promise<void>((resolve, reject) => {
      const ready = (reply: PGliteThreadReply) => {
        if (reply.kind !== "ready") return;
        worker.off("message", ready);
        worker.off("error", reject);
        resolve();
      };
      worker.on("message", ready);
      worker.once("error", reject);
    });
    return new PGliteThread(worker);
  }

  /** Runs one statement for `connection` (a transaction's statements share one: see pglite-worker.ts). */
  async query<R>(connection: number, text: string, params: readonly unknown[]): Promise<PGliteResult<R>> {
    const reply = await this.send({ kind: "query", connection, text, params });
    if (reply.kind !== "result") throw new Error(`PGlite's thread answered a statement with ${reply.kind}`);
    if (reply.jsonFields || reply.jsonArrayFields) parseJsonFields(reply.rows, reply.jsonFields, reply.jsonArrayFields);
    return { rows: reply.rows as R[], affectedRows: reply.affectedRows };
  }

  /**
   * Hears the channel's NOTIFYs, those statements send and those handed over in memory (`deliver`).
   * Resolves to the function that stops listening.
   */
  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => void> {
    let listeners = this.listeners.get(channel);
    if (!listeners) {
      this.listeners.set(channel, (listeners = new Set()));
      await this.send({ kind: "listen", channel });
    }
    // One entry per listen, even for the same function twice, as two LISTENs would be.
    const own = (payload: string) => onNotify(payload);
    listeners.add(own);
    return () => void listeners.delete(own);
  }

  /**
   * Hands a notice to the channel's listeners in this process, without a statement: after the
   * caller's turn, as a NOTIFY is delivered after its statement, never inside it.
   */
  deliver(channel: string, payload: string): void {
    queueMicrotask(() => this.heard(channel, payload));
  }

  /** The whole data directory, as PGlite's dumpDataDir gives it (uncompressed). */
  async dumpDataDir(): Promise<Uint8Array> {
    const reply = await this.send({ kind: "dump" });
    if (reply.kind !== "dump") throw new Error(`PGlite's thread answered a dump with ${reply.kind}`);
    return reply.bytes;
  }

  /** Closes the database, then ends the thread. */
  async close(): Promise<void> {
    if (this.stopped) return;
    await this.send({ kind: "close" });
    await this.worker.terminate();
  }

  private send(request: Request): Promise<PGliteThreadReply> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = ++this.next;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id } as PGliteThreadRequest);
    });
  }

  private receive(reply: PGliteThreadReply): void {
    if (reply.kind === "ready") return;
    if (reply.kind === "notification") return this.heard(reply.channel, reply.payload);
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.kind === "error") pending.reject(Object.assign(new Error(String(reply.error.message)), reply.error));
    else pending.resolve(reply);
  }

  private heard(channel: string, payload: string): void {
    for (const listener of this.listeners.get(channel) ?? []) {
      try {
        listener(payload);
      } catch {
        // A listener's failure is its own, as a LISTEN session's would be: the others still hear it.
      }
    }
  }

  private stop(error: Error): void {
    this.stopped ??= error;
    for (const { reject } of this.pending.values()) reject(this.stopped);
    this.pending.clear();
  }
}

/**
 * The thread's first code: it loads pglite-worker, from where pglite-worker-entry.ts says (the
 * build's JavaScript, or the sources bundled), registering tsx first where it says so.
 */
const BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
(async () => {
  if (workerData.loader) (await import(workerData.loader)).register();
  await import(workerData.entry);
})().catch((error) => setImmediate(() => { throw error; }));
`;
