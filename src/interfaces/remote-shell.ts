/**
 * Command lines for a remote POSIX shell (pure: strings in, strings out).
 *
 * SSH carries one command string, which the user's login shell on the host parses. So an argv is
 * turned into a script in which every word is single-quoted: inside single quotes a POSIX shell
 * expands nothing ($, `, \, newlines and spaces are literal), and a single quote is written as
 * '\'' (end the quote, an escaped quote, reopen). The login shell must be POSIX-like (sh, dash,
 * bash, zsh, ksh); csh and fish quote differently.
 *
 * The script reports the shell's pid on stderr before it execs the command. sshd makes each
 * session's process a session and process-group leader, and exec keeps the pid, so that pid
 * names the command's process group: a timeout kills the whole tree with `kill -- -PID`
 * (marked-processes.ts, with the processes that left the group).
 *
 * With `maxProcesses`, the script first lowers the process limit (RLIMIT_NPROC, soft and hard, so
 * the command cannot raise it again): `ulimit -u` in bash, zsh and ksh, `ulimit -p` in dash. If
 * neither works (the host's hard limit is already lower), the command does not run: exit 126.
 */
import { ValidationError } from "../domain/errors";

/** The first line the script writes to stderr; the adapter strips it from the command's output. */
export const PID_MARKER = "drydock-pid:";

/** A word the shell passes through verbatim. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** POSIX shell variable names: what `export NAME=…` accepts. */
export function isEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

export interface RemoteCommandSpec {
  /** Absolute directory on the host to run in (already checked to be inside the lease). */
  dir: string;
  argv: readonly string[];
  env?: Record<string, string> | undefined;
  /** Run argv[0] as a script with /bin/sh -c. */
  shell?: boolean;
  /** The process limit the command runs under (counted by the kernel per user, threads included). */
  maxProcesses?: number | undefined;
}

/** Checks argv the way the local adapter does: non-empty strings without NUL bytes. */
export function checkArgv(argv: readonly string[]): void {
  if (!Array.isArray(argv) || argv.length === 0) {
    throw new ValidationError("argv must be a non-empty array of strings", { field: "argv" });
  }
  for (const arg of argv) {
    // A NUL cannot travel inside an exec argument; the remote shell would cut the word there.
    if (typeof arg !== "string" || arg.includes("\0")) {
      throw new ValidationError("argv must contain strings without NUL bytes", { field: "argv" });
    }
  }
  if (argv[0] === "") throw new ValidationError("argv[0] must not be empty", { field: "argv" });
}

export function checkRemoteEnv(env: Record<string, string>, field = "env"): void {
  for (const [key, value] of Object.entries(env)) {
    if (!isEnvName(key)) {
      throw new ValidationError(`invalid environment variable name ${JSON.stringify(key)}: use letters, digits and _`, { field });
    }
    if (typeof value !== "string" || value.includes("\0")) {
      throw new ValidationError(`invalid value for environment variable ${key}`, { field });
    }
  }
}

/**
 * The script for one command. Variables are set with `export` rather than an `env K=V` prefix:
 * `env` would take an argv[0] that contains `=` for one more assignment. Every word after the
 * exports is quoted, so a variable that changes IFS cannot change how the rest is parsed.
 */
export function remoteCommandLine(spec: RemoteCommandSpec): string {
  checkArgv(spec.argv);
  if (spec.dir.includes("\0") || !spec.dir.startsWith("/")) {
    throw new ValidationError("the remote directory must be an absolute path", { field: "cwd" });
  }
  const env = spec.env ?? {};
  checkRemoteEnv(env);
  if (spec.shell && spec.argv.length !== 1) {
    throw new ValidationError("with shell: true, argv must be a single script string", { field: "argv" });
  }
  const words = spec.shell ? ["/bin/sh", "-c", spec.argv[0]!] : [...spec.argv];
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}; `).join("");
  return `${processLimitPrefix(spec.maxProcesses)}cd -- ${shellQuote(spec.dir)} && printf '${PID_MARKER}%s\\n' "$$" >&2 && { ${exports}exec ${words.map(shellQuote).join(" ")}; }`;
}

function processLimitPrefix(maxProcesses: number | undefined): string {
  if (maxProcesses === undefined) return "";
  if (!Number.isSafeInteger(maxProcesses) || maxProcesses < 1) {
    throw new ValidationError(`maxProcesses must be a positive integer`, { field: "maxProcesses" });
  }
  const n = maxProcesses;
  const why = `drydock: cannot limit processes to ${n} (ulimit -u ${n}); is maxProcesses above the hard limit on this host?`;
  return `{ ulimit -u ${n} || ulimit -p ${n}; } 2>/dev/null || { printf '%s\\n' ${shellQuote(why)} >&2; exit 126; }; `;
}

/** `mkdir -p` / `rm -rf` of an absolute directory, for lease and resource directories. */
export function makeDirectoryCommandLine(dir: string): string {
  assertSafeAbsolute(dir);
  return `mkdir -p -- ${shellQuote(dir)}`;
}

export function removeTreeCommandLine(dir: string): string {
  assertSafeAbsolute(dir);
  return `rm -rf -- ${shellQuote(dir)}`;
}

/** Refuses what would make `rm -rf` dangerous: relative paths, `..`, the root, NULs. */
export function assertSafeAbsolute(dir: string): void {
  const segments = dir.split("/").filter((s) => s !== "" && s !== ".");
  if (!dir.startsWith("/") || dir.includes("\0") || segments.includes("..") || segments.length < 2) {
    throw new ValidationError(`refusing to use ${JSON.stringify(dir)} as a remote directory`, { field: "root" });
  }
}
