/**
 * The `filesystem` interface of a sandboxed local lease. Each operation runs file-helper.mjs
 * inside the lease's sandbox, as the lease's user: the kernel, not a check in this process,
 * decides what it can reach. Small operations go to the lease's kept helper (lease-file-server.ts),
 * started once and used while the lease keeps using its files; a large read or upload is streamed
 * by a helper of its own. A swapped root, a hard link or a lost rename race leads at most to
 * what the lease's own commands can read (the read-only system paths), never to the service's
 * files, and writes land only in the lease's directory.
 */
import type { ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { DomainError, FileNotFoundError, InterfaceUnavailableError, PathOutsideLeaseError, ValidationError } from "../domain/errors";
import type { FileData, FileEntry, FileRead, FilesystemInterface, ListPage } from "../interfaces/filesystem-interface";
import { exactBody } from "../interfaces/file-read";
import { feedFrames } from "./helper-input";
import { splitLeasePath } from "../interfaces/lease-path";
import { FILE_HELPER, type LeaseSandboxLease, type LocalSandbox, type SandboxLaunch } from "./local-sandbox";
import { FileServerGone, FileServerRetired, INLINE_MAX_BYTES, LeaseFileServer, type FileServerRequest } from "./lease-file-server";
import { gatherUpTo } from "./gather-up-to";
import { HELPER_NODE_FLAGS, HELPER_TASKS, spawnHelper, type SpawnedHelper } from "./spawn-helper";

/** A helper that has not finished by then is killed: file operations are quick or broken. */
const HELPER_TIMEOUT_MS = 120_000;

export class SandboxedFilesystem implements FilesystemInterface {
  constructor(
    private readonly sandbox: LocalSandbox,
    private readonly lease: LeaseSandboxLease,
  ) {}

  /**
   * The helper answers a read with the file's size on a line of its own, once its checks passed,
   * then exactly that many bytes; what went wrong before that line is its error, as for any op.
   * After it the helper writes as fast as the reader takes (a full pipe blocks it), and a reader
   * that goes away kills it. Its timeout covers only the open: a large file read by a slow
   * client takes as long as the client does, and ends with its lease at the latest.
   */
  async openFile(relPath: string): Promise<FileRead> {
    const small = await this.served({ op: "read", path: relPath, max: INLINE_MAX_BYTES });
    if (small.inline && small.bytes) {
      const bytes = small.bytes;
      return { size: bytes.length, body: exactBody(bytes.length, (async function* () { if (bytes.length > 0) yield bytes; })(), () => undefined) };
    }
    const helper = await this.start("read", relPath);
    const stdout = helper.child.stdout![Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let header = Buffer.alloc(0);
    let newline = -1;
    try {
      while (newline < 0) {
        const next = await stdout.next();
        if (next.done) throw helperError(await helper.exited, helper, relPath);
        header = Buffer.concat([header, next.value]);
        newline = header.indexOf(10);
        if (newline < 0 && header.length > 32) throw new InterfaceUnavailableError("the lease's file helper answered a read without its size");
      }
    } catch (error) {
      helper.kill();
      throw error;
    } finally {
      helper.opened();
    }
    const size = Number(header.subarray(0, newline).toString("latin1"));
    if (!Number.isSafeInteger(size) || size < 0) {
      helper.kill();
      throw new InterfaceUnavailableError("the lease's file helper answered a read without its size");
    }
    const rest = header.subarray(newline + 1);
    async function* bytes(): AsyncGenerator<Uint8Array> {
      if (rest.length > 0) yield rest;
      for (;;) {
        const next = await stdout.next();
        if (next.done) return;
        yield next.value;
      }
    }
    return { size, body: exactBody(size, bytes(), () => helper.kill()) };
  }


  async writeFile(relPath: string, data: FileData): Promise<void> {
    // Content that fits is gathered and written by the kept helper; more goes on streaming, to a
    // helper of its own, from where the gathering stopped. A client that fails on the way (hung
    // up, over its limit) fails the write here, with nothing written.
    const content = await gatherUpTo(data, INLINE_MAX_BYTES);
    if (content.whole) await this.served({ op: "write", path: relPath }, content.whole);
    else await this.upload(relPath, content.rest);
  }

  async list(relPath: string, page: ListPage = {}): Promise<FileEntry[]> {
    // The helper reads only the page's entries; an empty `after` is none (no name is empty).
    const answer = await this.served({ op: "list", path: relPath === "" ? "." : relPath, ...(page.after ? { after: page.after } : {}), ...(page.limit === undefined ? {} : { limit: page.limit }) });
    return answer.entries ?? [];
  }

  async remove(relPath: string): Promise<void> {
    await this.served({ op: "remove", path: relPath });
  }

  /** One small operation, answered by the lease's kept helper: its answer, or its error. */
  private async served(request: FileServerRequest, content?: Uint8Array): Promise<{ inline?: boolean; bytes?: Buffer; entries?: FileEntry[] }> {
    const relPath = request.path;
    const sent = { ...request, path: helperPath(relPath) };
    // A helper that retired (idle) between being handed out and taking the request is replaced
    // once; so is one that ended before answering a read or a listing, which are safe to ask again.
    const again = (error: unknown) => error instanceof FileServerRetired || (error instanceof FileServerGone && (request.op === "read" || request.op === "list"));
    for (let attempt = 0; ; attempt++) {
      const server = await this.sandbox.kept.get(this.lease.leaseId, () => this.startServer());
      try {
        const answer = await server.request(sent, content);
        if (answer.ok) return answer;
        throw clientError(answer.code, answer.message, relPath) ?? new InterfaceUnavailableError(`the lease's file helper failed: ${answer.message.slice(0, 200)}`);
      } catch (error) {
        if (!again(error) || attempt > 0) throw error;
      }
    }
  }

  /**
   * Refuses at once, naming the cause, when the lease's own processes leave its pids cgroup too
   * little room for a helper: started anyway, it would fail or hang until its timeout.
   */
  private ensureRoom(): void {
    const room = this.sandbox.processRoom(this.lease.leaseId);
    if (room && room.max - room.tasks < HELPER_TASKS) {
      throw new InterfaceUnavailableError(
        `the lease runs ${room.tasks} of the ${room.max} processes and threads it may (sandbox.maxProcesses): its file calls need ${HELPER_TASKS} more, until some of its own end`,
        { leaseId: this.lease.leaseId, tasks: room.tasks, maxProcesses: room.max },
      );
    }
  }

  private startServer(): Promise<LeaseFileServer> {
    const leaseId = this.lease.leaseId;
    return this.launchHelper(["serve"], (launch, helper) => {
      const server: LeaseFileServer = LeaseFileServer.start(launch, helper, this.sandbox.keptHelperIdleMs, () => this.sandbox.kept.forget(leaseId, server));
      return server;
    });
  }

  /** Launches file-helper.mjs with `args` after the lease's directory, in the lease's sandbox, once there is room for it. */
  private async launchHelper<T>(args: string[], start: (launch: SandboxLaunch, helper: Buffer) => T): Promise<T> {
    const helper = await helperSource();
    this.ensureRoom();
    const launch = await this.sandbox.launch(this.lease, this.lease.leaseDir, [process.execPath, ...HELPER_NODE_FLAGS, HELPER_IN_SANDBOX, args[0]!, this.lease.leaseDir, ...args.slice(1)], [HELPER_IN_SANDBOX]);
    try {
      return start(launch, helper);
    } finally {
      await launch.close();
    }
  }

  /** Streams a write's content to a helper of its own, to its end: done, or its error. */
  private async upload(relPath: string, input: FileData): Promise<void> {
    const helper = await this.start("write", relPath, input);
    // It answers on stdout with nothing; read to its end all the same, or its exit is never seen.
    helper.child.stdout!.resume();
    const code = await helper.exited;
    helper.opened();
    // The content failed on its way in (the client's side): the helper left the file as it was.
    const { sourceError } = await helper.fed;
    if (sourceError !== undefined) throw sourceError;
    if (code !== 0) throw helperError(code, helper, relPath);
  }

  private start(op: "read" | "write", relPath: string, input?: FileData): Promise<RunningHelper> {
    return this.launchHelper([op, helperPath(relPath)], (launch, helper) => startHelper(launch, helper, input));
  }
}

/**
 * The path as the helper takes it. The textual rules (relative, no `..`, no NUL, length) are the
 * service's, checked here before anything starts; the helper walks the components the same way
 * the local adapter does.
 */
function helperPath(relPath: string): string {
  const segments = splitLeasePath(relPath);
  return segments.length === 0 ? "." : segments.join("/");
}

/** Where the helper appears inside the sandbox: copied in through a pipe, read-only. */
const HELPER_IN_SANDBOX = "/drydock/file-helper.mjs";
let helperText: Promise<Buffer> | null = null;
function helperSource(): Promise<Buffer> {
  return (helperText ??= readFile(FILE_HELPER));
}

/** A helper of one op, started: with its input fed, its exit, and its timeout. */
interface RunningHelper extends SpawnedHelper {
  /** Its exit code (null: killed), once it has exited and its output is read. */
  exited: Promise<number | null>;
  /** Its input is in (at once without any), or failed on its way: `sourceError`. */
  fed: Promise<{ sourceError?: unknown }>;
  /** Its open is over (answered or failed): the timeout no longer applies. */
  opened(): void;
}

/**
 * Starts the helper; it is killed if its op has not been answered within HELPER_TIMEOUT_MS of its
 * input being in (an upload takes as long as its client sends).
 */
function startHelper(launch: SandboxLaunch, helper: Buffer, input: FileData | undefined): RunningHelper {
  const spawned = spawnHelper(launch, helper);
  const { child, kill } = spawned;
  let timer: NodeJS.Timeout | undefined;
  let answered = false;
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new InterfaceUnavailableError(`cannot start the lease's file helper: ${error.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  // `exited` rejects only when the helper cannot start at all; a read that has its size never
  // awaits it, and that must not leave the rejection unhandled.
  exited.catch(() => undefined);
  const fed = input === undefined ? Promise.resolve({}).finally(() => child.stdin!.end()) : feedFrames(child.stdin!, input);
  void fed.then(() => {
    if (child.exitCode === null && child.signalCode === null && !answered) timer = setTimeout(kill, HELPER_TIMEOUT_MS);
  });
  const opened = () => {
    answered = true;
    clearTimeout(timer);
  };
  return { ...spawned, exited, fed, opened };
}

/** The helper's answer to an error of the client's (its exit 3, or a served `ok: false`); null for its own. */
function clientError(code: string, message: string, relPath: string): DomainError | null {
  if (code === "internal") return null;
  if (code === "file_not_found") return new FileNotFoundError(relPath);
  if (code === "path_outside_lease") return new PathOutsideLeaseError(relPath, message.replace(`${relPath}: `, ""));
  return new ValidationError(message, { field: "path", path: relPath });
}

function helperError(code: number | null, spawned: SpawnedHelper, relPath: string): DomainError {
  if (code === 3) {
    try {
      const answer = JSON.parse(spawned.stderr()) as { code: string; message: string };
      const error = clientError(answer.code, answer.message, relPath);
      if (error) return error;
    } catch {
      // fall through: not the helper's own answer
    }
  }
  // The sandbox could not start, or the helper crashed: the host's fault, not the client's.
  return new InterfaceUnavailableError(`the lease's file helper failed (exit ${code})${spawned.reason()}`);
}
