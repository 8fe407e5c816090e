/**
 * SSH adapter of the `command` interface: runs an argv on a remote host, in the lease's
 * directory there, over the lease's pooled connection. Same contract as the local adapter.
 *
 * Invariants:
 * - argv reaches the program verbatim: every word is single-quoted for the remote shell
 *   (remote-shell.ts); a shell script runs only when asked for and allowed.
 * - cwd is relative to the lease directory and checked over SFTP like a file path (no `..`,
 *   no symlink on the way, must be a directory) before the command starts.
 * - Environment variables are validated names, exported just before exec.
 * - The command leads its own process group (sshd's session), and the script tells us its pid
 *   on stderr first; a timeout ends the whole group from a second session (TERM, then KILL).
 * - Kept output is bounded per stream (BoundedOutput); onOutput sees every byte as it arrives.
 */
import { posix } from "node:path";
import { performance } from "node:perf_hooks";
import { FileNotFoundError, ValidationError } from "../domain/errors";
import { BoundedOutput, safeOutputListener } from "./bounded-output";
import { DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT_MS, type CommandInterface, type ExecOptions, type ExecResult } from "./command-interface";
import { assertRemoteRoot, resolveRemoteInsideRoot } from "./remote-path";
import { checkArgv, checkRemoteEnv, killGroupCommandLine, PID_MARKER, remoteCommandLine } from "./remote-shell";
import type { RemoteProcess, SessionRunner, SshSession } from "./ssh-connections";
import { SshConnectionError } from "./ssh-target";

export interface SshCommandOptions {
  /** The lease's directory on the host, absolute. */
  root: string;
  allowShell: boolean;
  session: SessionRunner;
  /** Environment every command of this lease gets, under what the request passes. */
  baseEnv?: Record<string, string>;
}

/** After TERM to the group, how long the tree gets before KILL. */
const KILL_GRACE_SECONDS = 2;
/** After the kill, how long to wait for the channel to close before closing it ourselves. */
const DRAIN_AFTER_KILL_MS = 1_000;
const MAX_TIMEOUT_MS = 2_147_483_647;

export class SshCommandInterface implements CommandInterface {
  private readonly root: string;
  private readonly allowShell: boolean;
  private readonly session: SessionRunner;
  private readonly baseEnv: Record<string, string>;

  constructor(options: SshCommandOptions) {
    assertRemoteRoot(options.root);
    this.root = posix.normalize(options.root);
    this.allowShell = options.allowShell;
    this.session = options.session;
    this.baseEnv = { ...(options.baseEnv ?? {}) };
    checkRemoteEnv(this.baseEnv, "baseEnv");
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    checkArgv(argv);
    if (options.shell && !this.allowShell) {
      throw new ValidationError("shell commands are not allowed for this lease", { field: "shell" });
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
      throw new ValidationError(`timeoutMs must be between 1 and ${MAX_TIMEOUT_MS}`, { field: "timeoutMs" });
    }
    const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    if (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 0) {
      throw new ValidationError("maxOutputBytes must be a non-negative integer", { field: "maxOutputBytes" });
    }
    if (options.env !== undefined) checkRemoteEnv(options.env);
    const env = { ...this.baseEnv, ...(options.env ?? {}) };

    return this.session(async (session) => {
      const dir = await this.resolveCwd(session, options.cwd);
      const command = remoteCommandLine({ dir, argv, env, shell: options.shell === true });
      const started = performance.now();
      const remote = await session.exec(command);
      const stdout = new BoundedOutput(maxOutputBytes);
      const stderr = new BoundedOutput(maxOutputBytes);
      const outcome = await runChannel(remote, session, {
        stdin: options.stdin,
        timeoutMs,
        stdout,
        stderr,
        onOutput: safeOutputListener(options.onOutput),
      });
      return {
        exitCode: outcome.exitCode,
        signal: outcome.signal,
        stdout: stdout.text(),
        stderr: stderr.text(),
        stdoutTruncated: stdout.truncated,
        stderrTruncated: stderr.truncated,
        stdoutBytes: stdout.totalBytes,
        stderrBytes: stderr.totalBytes,
        timedOut: outcome.timedOut,
        durationMs: performance.now() - started,
      };
    });
  }

  private async resolveCwd(session: SshSession, cwd: string | undefined): Promise<string> {
    if (cwd === undefined || cwd === "" || cwd === ".") return this.root;
    const target = await resolveRemoteInsideRoot(await session.sftp(), this.root, cwd);
    if (!target.stats) throw new FileNotFoundError(cwd);
    if (!target.stats.isDirectory()) throw new ValidationError(`cwd is not a directory: ${cwd}`, { field: "cwd" });
    return target.path;
  }
}

interface ChannelSpec {
  stdin: string | Uint8Array | undefined;
  timeoutMs: number;
  stdout: BoundedOutput;
  stderr: BoundedOutput;
  onOutput: (stream: "stdout" | "stderr", chunk: Uint8Array) => void;
}

interface ChannelOutcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
}

/** Runs one exec channel to its close; rejects only when the connection is lost mid-command. */
function runChannel(remote: RemoteProcess, session: SshSession, spec: ChannelSpec): Promise<ChannelOutcome> {
  const { channel } = remote;
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let settled = false;
    let pid: number | null = null;
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      const exit = remote.exit();
      if (exit === null && !timedOut) {
        reject(new SshConnectionError("lost", `the connection to ${session.description} ended while the command ran`, session.description));
        return;
      }
      resolve({ exitCode: exit?.code ?? null, signal: exit?.signal ?? null, timedOut });
    };

    const stdoutOf = (chunk: Buffer) => {
      spec.stdout.push(chunk);
      spec.onOutput("stdout", chunk);
    };
    const stderrOf = (chunk: Buffer) => {
      spec.stderr.push(chunk);
      spec.onOutput("stderr", chunk);
    };
    const marker = new PidMarkerReader(stderrOf, (p) => {
      pid = p;
    });

    channel.on("data", stdoutOf);
    channel.stderr.on("data", (chunk: Buffer) => marker.push(chunk));
    channel.on("close", () => {
      marker.flush();
      finish();
    });
    channel.on("error", () => {}); // 'close' follows
    // Always end stdin, so a program reading it (cat) sees EOF instead of waiting for ever.
    if (spec.stdin !== undefined && spec.stdin.length > 0) channel.end(typeof spec.stdin === "string" ? spec.stdin : Buffer.from(spec.stdin));
    else channel.end();

    // As in the local adapter, the timeout runs until the channel closes: a background process
    // still holding the output open is part of the command and is ended with the rest.
    timers.push(
      setTimeout(() => {
        timedOut = true;
        if (pid !== null) {
          void session
            .execUrgent(killGroupCommandLine(pid, KILL_GRACE_SECONDS))
            .then(({ channel: kill }) => {
              kill.resume();
              kill.stderr.resume();
              kill.on("error", () => {});
            })
            .catch(() => channel.close());
        }
        // If the group ignores TERM and KILL cannot reach it (or the pid never came), close the
        // channel ourselves: sshd then closes its end of the pipes.
        timers.push(setTimeout(() => channel.close(), (KILL_GRACE_SECONDS + 1) * 1000 + DRAIN_AFTER_KILL_MS));
      }, spec.timeoutMs),
    );
  });
}

/**
 * Strips the `drydock-pid:N` line the script writes first on stderr and passes everything after
 * it through. If the first line is something else (the `cd` failed), it is passed through whole.
 */
class PidMarkerReader {
  private pending: Buffer | null = Buffer.alloc(0);

  constructor(
    private readonly pass: (chunk: Buffer) => void,
    private readonly onPid: (pid: number) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.pending === null) {
      this.pass(chunk);
      return;
    }
    const buffered = Buffer.concat([this.pending, chunk]);
    const newline = buffered.indexOf(0x0a);
    const prefix = Buffer.from(PID_MARKER);
    const head = buffered.subarray(0, Math.min(buffered.length, prefix.length));
    if (!prefix.subarray(0, head.length).equals(head) || (newline < 0 && buffered.length > prefix.length + 24)) {
      this.pending = null;
      this.pass(buffered);
      return;
    }
    if (newline < 0) {
      this.pending = buffered;
      return;
    }
    const pid = Number(buffered.subarray(prefix.length, newline).toString("ascii"));
    if (Number.isSafeInteger(pid) && pid > 1) this.onPid(pid);
    this.pending = null;
    const rest = buffered.subarray(newline + 1);
    if (rest.length > 0) this.pass(rest);
  }

  /** At the end: a partial marker that never finished is output after all. */
  flush(): void {
    if (this.pending && this.pending.length > 0) this.pass(this.pending);
    this.pending = null;
  }
}
