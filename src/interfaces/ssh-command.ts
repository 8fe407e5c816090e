/**
 * SSH adapter of the `command` interface: runs an argv on a remote host, in the lease's
 * directory there, over the lease's pooled connection. Same contract as the local adapter.
 *
 * Invariants:
 * - argv reaches the program verbatim: every word is single-quoted for the remote shell
 *   (remote-shell.ts); a shell script runs only when asked for and allowed.
 * - cwd is relative to the lease directory and checked over SFTP like a file path (no `..`,
 *   no symlink on the way, must be a directory) before the command starts.
 * - Environment variables are validated names, exported just before exec. Every command also
 *   carries `DRYDOCK_COMMAND=<random>` and, for a lease, `DRYDOCK_LEASE=<lease>`; a client may
 *   not set either (ValidationError on `env`), so no command can hide from the process sweeps
 *   (marked-processes.ts) by its own choice.
 * - The command leads its own process group (sshd's session), and the script tells us its pid
 *   on stderr first; a timeout ends the whole group, and every process carrying the command's
 *   marker (those that left the group with setsid or a double fork), from a second session
 *   (TERM, then KILL).
 * - With `maxProcesses`, the command runs under that process limit (`ulimit -u`, remote-shell.ts).
 * - Kept output is bounded per stream (BoundedOutput); onOutput sees every byte as it arrives.
 */
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { performance } from "node:perf_hooks";
import { FileNotFoundError, ValidationError } from "../domain/errors";
import { BoundedOutput, execResultOf, safeOutputListener, type OutputListener } from "./bounded-output";
import { execLimits, type CommandInterface, type ExecOptions, type ExecResult } from "./command-interface";
import { OutputPacer } from "./output-pause";
import { assertRemoteRoot, resolveRemoteInsideRoot } from "./remote-path";
import { COMMAND_MARKER, LEASE_MARKER, RESERVED_ENV_NAMES, timeoutKillCommandLine } from "./marked-processes";
import { checkArgv, checkRemoteEnv, PID_MARKER, remoteCommandLine } from "./remote-shell";
import type { RemoteProcess, SessionRunner, SshSession } from "./ssh-connections";
import { SshConnectionError } from "./ssh-target";

export interface SshCommandOptions {
  /** The lease's directory on the host, absolute. */
  root: string;
  allowShell: boolean;
  session: SessionRunner;
  /** Environment every command of this lease gets, under what the request passes. */
  baseEnv?: Record<string, string>;
  /** Set for a lease's commands: they carry `DRYDOCK_LEASE=<leaseId>`, which its teardown looks for. */
  leaseId?: string;
  /** The process limit every command runs under; none when unset. */
  maxProcesses?: number;
}

/** After TERM to the group, how long the tree gets before KILL. */
const KILL_GRACE_SECONDS = 2;
/** After the kill, how long to wait for the channel to close before closing it ourselves. */
const DRAIN_AFTER_KILL_MS = 1_000;

export class SshCommandInterface implements CommandInterface {
  private readonly root: string;
  private readonly allowShell: boolean;
  private readonly session: SessionRunner;
  private readonly baseEnv: Record<string, string>;
  private readonly leaseId: string | undefined;
  private readonly maxProcesses: number | undefined;

  constructor(options: SshCommandOptions) {
    assertRemoteRoot(options.root);
    this.root = posix.normalize(options.root);
    this.allowShell = options.allowShell;
    this.session = options.session;
    this.baseEnv = { ...(options.baseEnv ?? {}) };
    checkRemoteEnv(this.baseEnv, "baseEnv");
    refuseReservedEnv(this.baseEnv, "baseEnv");
    if (options.leaseId !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(options.leaseId)) {
      throw new ValidationError(`not a lease id: ${JSON.stringify(options.leaseId)}`, { field: "leaseId" });
    }
    this.leaseId = options.leaseId;
    this.maxProcesses = options.maxProcesses;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    checkArgv(argv);
    if (options.shell && !this.allowShell) {
      throw new ValidationError("shell commands are not allowed for this lease", { field: "shell" });
    }
    const { timeoutMs, maxOutputBytes } = execLimits(options);
    if (options.env !== undefined) {
      checkRemoteEnv(options.env);
      refuseReservedEnv(options.env, "env");
    }
    // The markers go last: nothing the caller passes can replace them.
    const commandMarker = randomBytes(8).toString("hex");
    const env = {
      ...this.baseEnv,
      ...(options.env ?? {}),
      ...(this.leaseId !== undefined ? { [LEASE_MARKER]: this.leaseId } : {}),
      [COMMAND_MARKER]: commandMarker,
    };

    return this.session(async (session) => {
      const dir = await this.resolveCwd(session, options.cwd);
      const command = remoteCommandLine({ dir, argv, env, shell: options.shell === true, maxProcesses: this.maxProcesses });
      const started = performance.now();
      const remote = await session.exec(command);
      const stdout = new BoundedOutput(maxOutputBytes);
      const stderr = new BoundedOutput(maxOutputBytes);
      const outcome = await runChannel(remote, session, {
        stdin: options.stdin,
        timeoutMs,
        commandMarker,
        stdout,
        stderr,
        onOutput: safeOutputListener(options.onOutput),
        signal: options.signal,
      });
      return execResultOf(outcome, stdout, stderr, performance.now() - started);
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
  /** The command's DRYDOCK_COMMAND value: what its timeout kills beyond its process group. */
  commandMarker: string;
  stdout: BoundedOutput;
  stderr: BoundedOutput;
  onOutput: OutputListener;
  /** Cancels the command (ExecOptions.signal): ended like a timeout, without `timedOut`. */
  signal?: AbortSignal | undefined;
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
    /** Set once the timeout or a cancel has begun ending the command. */
    let ending = false;
    let settled = false;
    let pid: number | null = null;
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      spec.signal?.removeEventListener("abort", end);
      const exit = remote.exit();
      if (exit === null && !ending) {
        reject(new SshConnectionError("lost", `the connection to ${session.description} ended while the command ran`, session.description));
        return;
      }
      resolve({ exitCode: exit?.code ?? null, signal: exit?.signal ?? null, timedOut });
    };

    // A listener that asks for a pause stops reading the channel (stdout and stderr share its
    // window, which ssh2 then stops widening, so the remote command blocks on its write); the
    // timeout below keeps running meanwhile.
    const pacer = new OutputPacer([channel, channel.stderr]);
    const giveUp = () => {
      pacer.release();
      channel.close();
    };
    const stdoutOf = (chunk: Buffer) => {
      spec.stdout.push(chunk);
      pacer.pace(spec.onOutput("stdout", chunk));
    };
    const stderrOf = (chunk: Buffer) => {
      spec.stderr.push(chunk);
      pacer.pace(spec.onOutput("stderr", chunk));
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
    // still holding the output open is part of the command and is ended with the rest. A cancel
    // (the signal) ends it the same way; whichever comes first decides `timedOut`.
    function end(): void {
      if (ending || settled) return;
      ending = true;
      // Also when the pid never came: the command's marker still finds its processes.
      void session
        .execUrgent(timeoutKillCommandLine(pid, COMMAND_MARKER, spec.commandMarker, KILL_GRACE_SECONDS))
        .then(({ channel: kill }) => {
          kill.resume();
          kill.stderr.resume();
          kill.on("error", () => {});
        })
        .catch(() => giveUp());
      // If the group ignores TERM and KILL cannot reach it (or the pid never came), close the
      // channel ourselves: sshd then closes its end of the pipes. ssh2 reports the close only
      // once the channel's buffered output has been read, so a paused listener is overridden.
      timers.push(setTimeout(() => giveUp(), (KILL_GRACE_SECONDS + 1) * 1000 + DRAIN_AFTER_KILL_MS));
    }
    timers.push(
      setTimeout(() => {
        if (ending) return;
        timedOut = true;
        end();
      }, spec.timeoutMs),
    );
    if (spec.signal?.aborted) end();
    else spec.signal?.addEventListener("abort", end, { once: true });
  });
}

function refuseReservedEnv(env: Record<string, string>, field: string): void {
  for (const name of RESERVED_ENV_NAMES) {
    if (Object.hasOwn(env, name)) throw new ValidationError(`${name} is set by Drydock and cannot be passed`, { field });
  }
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
