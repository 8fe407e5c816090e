/**
 * Local adapter of the `command` interface: runs an argv with child_process on this machine,
 * inside the lease's working directory.
 *
 * Invariants:
 * - argv is exec'd directly (no shell) so its strings reach the program verbatim; a shell is
 *   used only when the caller asks and the lease allows it.
 * - The child gets a minimal environment, never this service's own: the service's secrets
 *   live in process.env and must not leak into lease commands.
 * - The child leads its own process group, so a timeout can end the whole tree, grandchildren
 *   included, not just the direct child.
 * - Output kept in memory is bounded per stream, whatever the process writes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { stat } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { FileNotFoundError, InterfaceUnavailableError, ValidationError } from "../domain/errors";
import { execLimits, type CommandInterface, type ExecOptions, type ExecResult } from "./command-interface";
import { BoundedOutput, execResultOf, safeOutputListener, type OutputListener } from "./bounded-output";
import { assertAbsoluteRoot, isErrno, resolveInsideRoot } from "./lease-path";
import { OutputPacer } from "./output-pause";

export interface LocalCommandOptions {
  /** The lease's working directory, absolute. Commands run here unless `cwd` says otherwise. */
  root: string;
  /** Whether `shell: true` is honoured (the blueprint allows shells). */
  allowShell: boolean;
  /** Environment every command of this lease gets, on top of the minimal one. */
  baseEnv?: Record<string, string>;
  /** Starts the process some other way than directly (inside the lease's sandbox). */
  launcher?: CommandLauncher;
}

export interface LaunchSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** Descriptors the child gets from fd 3 on. */
  stdio?: (number | "pipe")[];
  /** Called once the command has ended (closes what wrap opened for it). */
  close?(): Promise<void>;
}

/**
 * How a command is really started: the adapter resolves argv, cwd and environment, and the
 * launcher may wrap them (src/sandbox/ runs them in a bubblewrap sandbox) and track the child.
 */
export interface CommandLauncher {
  wrap(command: { argv: string[]; cwd: string; env: Record<string, string> }): Promise<LaunchSpec>;
  /** Called once the child has started; the function it returns is called when the child has ended. */
  started?(child: ChildProcess): () => void;
}

const FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** After SIGTERM to the group, how long the tree gets to exit before SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** After SIGKILL, how long to wait for the pipes to close before giving up on them. */
const DRAIN_AFTER_KILL_MS = 500;

export class LocalCommandInterface implements CommandInterface {
  private readonly root: string;
  private readonly allowShell: boolean;
  private readonly baseEnv: Record<string, string>;
  private readonly launcher: CommandLauncher | undefined;

  constructor(options: LocalCommandOptions) {
    assertAbsoluteRoot(options.root);
    this.root = path.resolve(options.root);
    this.allowShell = options.allowShell;
    this.baseEnv = { ...(options.baseEnv ?? {}) };
    checkEnv(this.baseEnv, "baseEnv");
    this.launcher = options.launcher;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const command = this.commandLine(argv, options.shell === true);
    const { timeoutMs, maxOutputBytes } = execLimits(options);
    if (options.env !== undefined) checkEnv(options.env, "env");
    const cwd = await this.resolveCwd(options.cwd);

    const stdout = new BoundedOutput(maxOutputBytes);
    const stderr = new BoundedOutput(maxOutputBytes);
    const launch: LaunchSpec = this.launcher
      ? await this.launcher.wrap({ argv: command, cwd, env: this.childEnv(options.env) })
      : { argv: command, cwd, env: this.childEnv(options.env) };
    const started = performance.now();
    const outcome = await runChild({
      file: launch.argv[0]!,
      args: launch.argv.slice(1),
      cwd: launch.cwd,
      env: launch.env,
      extraStdio: launch.stdio ?? [],
      onStarted: this.launcher?.started?.bind(this.launcher),
      stdin: options.stdin,
      timeoutMs,
      stdout,
      stderr,
      onOutput: safeOutputListener(options.onOutput),
      signal: options.signal,
    }).finally(() => launch.close?.());
    const durationMs = performance.now() - started;

    if (outcome.spawnError !== undefined) return spawnFailure(command[0]!, outcome.spawnError, durationMs);
    return execResultOf(outcome, stdout, stderr, durationMs);
  }

  private commandLine(argv: readonly string[], shell: boolean): string[] {
    if (!Array.isArray(argv) || argv.length === 0) {
      throw new ValidationError("argv must be a non-empty array of strings", { field: "argv" });
    }
    for (const arg of argv) {
      // exec() cannot carry a NUL inside an argument; refuse rather than let spawn throw.
      if (typeof arg !== "string" || arg.includes("\0")) {
        throw new ValidationError("argv must contain strings without NUL bytes", { field: "argv" });
      }
    }
    if (argv[0] === "") {
      throw new ValidationError("argv[0] must not be empty", { field: "argv" });
    }
    if (!shell) return [...argv];
    if (!this.allowShell) {
      throw new ValidationError("shell commands are not allowed for this lease", { field: "shell" });
    }
    // One script string: joining several argv entries with spaces would silently re-split and
    // re-interpret them, which is exactly what the argv form exists to avoid.
    if (argv.length !== 1) {
      throw new ValidationError("with shell: true, argv must be a single script string", { field: "argv" });
    }
    return ["/bin/sh", "-c", argv[0]!];
  }

  private async resolveCwd(cwd: string | undefined): Promise<string> {
    const rel = cwd === undefined || cwd === "" ? "." : cwd;
    const resolved = await resolveInsideRoot(this.root, rel);
    // Checked here because spawn reports a missing cwd as ENOENT, indistinguishable from a
    // missing command.
    try {
      if (!(await stat(resolved)).isDirectory()) {
        throw new ValidationError(`cwd is not a directory: ${rel}`, { field: "cwd" });
      }
    } catch (err) {
      if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) throw new FileNotFoundError(rel);
      throw err;
    }
    return resolved;
  }

  private childEnv(extra: Record<string, string> | undefined): Record<string, string> {
    const env: Record<string, string> = {
      PATH: process.env.PATH || FALLBACK_PATH,
      HOME: this.root,
      LANG: "C.UTF-8",
    };
    if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
    return { ...env, ...this.baseEnv, ...(extra ?? {}) };
  }
}

function checkEnv(env: Record<string, string>, field: string): void {
  for (const [key, value] of Object.entries(env)) {
    if (key === "" || key.includes("=") || key.includes("\0") || typeof value !== "string" || value.includes("\0")) {
      throw new ValidationError(`invalid environment variable ${JSON.stringify(key)}`, { field });
    }
  }
}

/** Mirrors what a shell reports when it cannot start a program: 127 not found, 126 not runnable. */
function spawnFailure(file: string, err: NodeJS.ErrnoException, durationMs: number): ExecResult {
  const notFound = err.code === "ENOENT";
  if (!notFound && !["EACCES", "ENOEXEC", "EISDIR"].includes(err.code ?? "")) {
    // Anything else (EAGAIN, EMFILE, ...) is the host failing, not the command.
    throw new InterfaceUnavailableError(`cannot start ${file}: ${err.message}`, { code: err.code });
  }
  const stderr = notFound ? `drydock: command not found: ${file}\n` : `drydock: cannot execute: ${file} (${err.code})\n`;
  const empty = { stdout: "", stdoutTruncated: false, stderrTruncated: false, stdoutBytes: 0, timedOut: false };
  return { ...empty, exitCode: notFound ? 127 : 126, signal: null, stderr, stderrBytes: Buffer.byteLength(stderr), durationMs };
}

interface ChildSpec {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  stdin: string | Uint8Array | undefined;
  timeoutMs: number;
  stdout: BoundedOutput;
  stderr: BoundedOutput;
  onOutput: OutputListener;
  onStarted?: ((child: ChildProcess) => () => void) | undefined;
  extraStdio: (number | "pipe")[];
  /** Cancels the command (ExecOptions.signal): ended like a timeout, without `timedOut`. */
  signal?: AbortSignal | undefined;
}

interface ChildOutcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  spawnError?: NodeJS.ErrnoException;
}

/** Runs one process to completion; never rejects (spawn failures come back as spawnError). */
function runChild(spec: ChildSpec): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      // detached: the child leads a new process group whose id is its pid, so -pid reaches
      // every process it starts (unless one calls setsid itself).
      child = spawn(spec.file, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        shell: false,
        detached: true,
        stdio: ["pipe", "pipe", "pipe", ...spec.extraStdio],
      });
    } catch (err) {
      resolve({ exitCode: null, signal: null, timedOut: false, spawnError: err as NodeJS.ErrnoException });
      return;
    }

    let exitCode: number | null = null;
    let signal: string | null = null;
    let timedOut = false;
    /** Set once the timeout or a cancel has begun ending the command. */
    let ending = false;
    let settled = false;
    const ended = child.pid !== undefined && spec.onStarted ? spec.onStarted(child) : () => {};
    const timers: NodeJS.Timeout[] = [];
    const finish = (spawnError?: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      ended();
      for (const timer of timers) clearTimeout(timer);
      spec.signal?.removeEventListener("abort", end);
      // Matters only when giving up on pipes a stray process still holds open.
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.stdin?.destroy();
      resolve(spawnError ? { exitCode: null, signal: null, timedOut, spawnError } : { exitCode, signal, timedOut });
    };
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the whole group is already gone.
      }
    };

    child.on("error", (err: NodeJS.ErrnoException) => {
      // With a pid the process did start; later errors (a failed kill) change nothing.
      if (child.pid === undefined) finish(err);
    });
    child.on("exit", (code, sig) => {
      exitCode = code;
      signal = sig;
    });
    // 'close' comes after 'exit' once stdout and stderr are drained, so no output is lost.
    child.on("close", (code, sig) => {
      exitCode = code;
      signal = sig;
      finish();
    });
    // A listener that asks for a pause stops both pipes until it is ready (the child then blocks
    // on its write); the timeout below keeps running meanwhile.
    const pacer = new OutputPacer([child.stdout, child.stderr].filter((s) => s !== null));
    child.stdout?.on("data", (chunk: Buffer) => {
      spec.stdout.push(chunk);
      pacer.pace(spec.onOutput("stdout", chunk));
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      spec.stderr.push(chunk);
      pacer.pace(spec.onOutput("stderr", chunk));
    });
    // EPIPE when the child exits without reading all of its stdin: not an error of ours.
    child.stdin?.on("error", () => undefined);
    // Always end stdin, so a program reading it (cat) sees EOF instead of waiting forever.
    child.stdin?.end(spec.stdin);

    // The timeout runs until 'close', not 'exit': a background grandchild holding the pipes
    // open is part of the command and gets ended with the rest of the group. A cancel (the
    // signal) ends it the same way; whichever comes first decides `timedOut`.
    function end(): void {
      if (ending || settled) return;
      ending = true;
      killGroup("SIGTERM");
      timers.push(
        setTimeout(() => {
          killGroup("SIGKILL");
          timers.push(setTimeout(() => finish(), DRAIN_AFTER_KILL_MS));
        }, KILL_GRACE_MS),
      );
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
