/**
 * Processes found by a marker in their environment, and ended: how a lease's commands are kept
 * from outliving it on an SSH host (as Jenkins' process-tree killer finds a build's processes by
 * its BUILD_ID). A process group is not enough: `setsid`, `nohup … &` and daemons leave it.
 *
 * Every command a lease runs carries `DRYDOCK_LEASE=<lease>` and `DRYDOCK_COMMAND=<random>` in
 * its environment, and every process it starts inherits them. The lease's teardown kills the
 * processes carrying the lease's entry; a command's timeout those carrying the command's.
 *
 * Invariants:
 * - A process matches only with the exact NUL-delimited entry `NAME=value` in /proc/PID/environ
 *   (its environment as it was exec'd), never a prefix or a substring: another lease's id that
 *   starts with this one's, or the entry in a command line, does not match.
 * - Only processes of the SSH user are touched (the real uid in /proc/PID/status), even when the
 *   SSH user is root and could read everyone's environment.
 * - Killing repeats until a scan finds nothing left, since a process may fork while its parent
 *   is killed; the children carry the marker too.
 * - Limits, said plainly in the README: Linux hosts (/proc); a process that clears its
 *   environment (`env -i`, sudo) or is started by another service (systemd-run, cron, at) is not
 *   found.
 */
import { ValidationError } from "../domain/errors";
import { shellQuote } from "./remote-shell";
import type { SshSession } from "./ssh-connections";

export const LEASE_MARKER = "DRYDOCK_LEASE";
export const COMMAND_MARKER = "DRYDOCK_COMMAND";
/** Names a client may not set: the markers are Drydock's, or a command could hide from them. */
export const RESERVED_ENV_NAMES: readonly string[] = [LEASE_MARKER, COMMAND_MARKER];

export interface KilledProcess {
  pid: number;
  /** The program's name as the kernel keeps it (/proc/PID/comm), never its arguments: they may hold secrets. */
  command: string;
}

export interface SweepResult {
  /** Each process once, in the order they were killed. */
  killed: KilledProcess[];
  /** Processes still carrying the marker after the last round (normally 0). */
  left: number;
}

const KILLED = "drydock-killed:";
const LEFT = "drydock-left:";
const NO_PROC = "drydock-no-proc";
export const MAX_COMMAND_CHARS = 200;
/** Kill rounds before giving up on a process tree that keeps forking. */
const KILL_ROUNDS = 10;

/** Marker values go into shell scripts and must be unambiguous: ids and hex only. */
function entryOf(name: string, value: string): string {
  if (!RESERVED_ENV_NAMES.includes(name) || !/^[A-Za-z0-9_.:-]{1,128}$/.test(value)) {
    throw new ValidationError(`not a process marker: ${name}=${JSON.stringify(value)}`);
  }
  return `${name}=${value}`;
}

/**
 * Shell functions over /proc. `marked` prints the pid of each process of this user whose
 * environment holds the entry exactly; `killmarked SIG` signals them, prints each it reached as
 * `drydock-killed:PID COMMAND` (the command for the first `describe` only) and sets `hit`.
 *
 * Forks are what a sweep costs, and a fork bomb is exactly when it must be quick: one grep finds
 * the exact NUL-delimited entry in every environ at once where grep has -z (GNU, busybox);
 * otherwise a POSIX grep -l narrows the scan to candidates, checked one by one. Ownership is the
 * shell's own `test -O` where it has it. A zombie's environ reads empty, so a process killed is
 * not found again once it is dead.
 */
function markedFunctions(entry: string, describe: number): string[] {
  const uid = `awk '$1 == "Uid:" { print $2; exit }' "/proc/$1/status" 2>/dev/null`;
  return [
    `m=${shellQuote(entry)}; me=$(id -u); n=0; hit=`,
    `if [ -O "/proc/$$" ] 2>/dev/null; then own() { [ -O "/proc/$1" ]; }; else own() { [ "$(${uid})" = "$me" ]; }; fi`,
    `if printf 'x\\000' | grep -qzxF -e x 2>/dev/null; then cands() { grep -lzxF -e "$m" /proc/[0-9]*/environ 2>/dev/null; }; ` +
      `else cands() { for f in $(grep -l -F -e "$m" /proc/[0-9]*/environ 2>/dev/null); do tr '\\000' '\\n' <"$f" 2>/dev/null | grep -qxF -e "$m" && echo "$f"; done; }; fi`,
    `marked() { for f in $(cands); do p=\${f#/proc/}; p=\${p%/environ}; own "$p" && echo "$p"; done; }`,
    `killmarked() { hit=; for p in $(marked); do c=; [ "$n" -ge ${describe} ] || c=$(head -c ${MAX_COMMAND_CHARS} "/proc/$p/comm" 2>/dev/null); ` +
      `if kill -s "$1" "$p" 2>/dev/null; then hit=1; n=$((n+1)); printf '${KILLED}%s %s\\n' "$p" "$c"; fi; done; }`,
  ];
}

/** Kills with KILL, round after round, until a round finds nothing to kill. */
const KILL_ROUNDS_SCRIPT = [
  `i=0; while [ "$i" -lt ${KILL_ROUNDS} ]; do killmarked KILL; [ -n "$hit" ] || break; i=$((i+1)); done`,
];

/** The teardown's script: KILL every process of this user carrying `NAME=value`; names the first `describe`. */
export function sweepCommandLine(name: string, value: string, describe = 100): string {
  return [
    `[ -r /proc/self/environ ] || { echo ${NO_PROC}; exit 0; }`,
    ...markedFunctions(entryOf(name, value), describe),
    ...KILL_ROUNDS_SCRIPT,
    // Something still there (a process in uninterruptible sleep takes a moment to die): once more.
    `[ -z "$(marked)" ] || { sleep 1; killmarked KILL; sleep 1; }`,
    `printf '${LEFT}%s\\n' "$(marked | wc -l)"`,
  ].join("\n");
}

/**
 * A timed-out command's script: TERM to its process group (sshd makes the session one) and to
 * every process carrying its marker; up to `graceSeconds` for them to go; then KILL to both,
 * round after round. `pid` is null when the command never said its pid: markers only then.
 */
export function timeoutKillCommandLine(pid: number | null, name: string, value: string, graceSeconds: number): string {
  // `kill -s SIG -- -PGID` is the one spelling dash and bash both take (dash reads `-TERM --` as a number).
  if (pid !== null && (!Number.isSafeInteger(pid) || pid <= 1)) throw new ValidationError(`not a process id: ${pid}`);
  const g = pid === null ? null : `-${pid}`;
  const steps = Math.max(1, Math.ceil(graceSeconds));
  const groupAlive = g === null ? "false" : `kill -s 0 -- ${g} 2>/dev/null`;
  return [
    ...markedFunctions(entryOf(name, value), 0),
    ...(g === null ? [] : [`kill -s TERM -- ${g} 2>/dev/null`]),
    "killmarked TERM >/dev/null",
    `i=0; while [ "$i" -lt ${steps} ] && { ${groupAlive} || [ -n "$(marked)" ]; }; do sleep 1; i=$((i+1)); done`,
    ...(g === null ? [] : [`kill -s KILL -- ${g} 2>/dev/null`]),
    ...KILL_ROUNDS_SCRIPT.map((line) => `{ ${line}; } >/dev/null`),
    "exit 0",
  ].join("\n");
}

/** Reads the sweep's output line by line: each pid once (a dying process can be reached twice). */
export class SweepOutputReader {
  private readonly seen = new Set<number>();
  private readonly killed: KilledProcess[] = [];
  private pending = "";
  private left: number | null = null;
  private noProc = false;

  constructor(private readonly maxListed: number) {}

  push(chunk: string): void {
    const lines = (this.pending + chunk).split("\n");
    this.pending = lines.pop() ?? "";
    // A line longer than any the script writes is not one of its lines: drop it.
    if (this.pending.length > 4 * MAX_COMMAND_CHARS) this.pending = "";
    for (const line of lines) this.line(line);
  }

  /** The result, or why there is none. */
  finish(): SweepResult | { error: string } {
    if (this.pending) this.line(this.pending);
    this.pending = "";
    if (this.noProc) return { error: "the host has no /proc to find them in" };
    if (this.left === null) return { error: "the scan did not finish" };
    return { killed: this.killed, left: this.left };
  }

  /** Processes killed beyond `maxListed` (counted, not listed). */
  get unlisted(): number {
    return this.seen.size - this.killed.length;
  }

  private line(line: string): void {
    if (line === NO_PROC) this.noProc = true;
    else if (line.startsWith(LEFT)) this.left = Number(line.slice(LEFT.length).trim()) || 0;
    else if (line.startsWith(KILLED)) {
      const rest = line.slice(KILLED.length);
      const space = rest.indexOf(" ");
      const pid = Number(space < 0 ? rest : rest.slice(0, space));
      if (!Number.isSafeInteger(pid) || pid <= 0 || this.seen.has(pid)) return;
      this.seen.add(pid);
      if (this.killed.length < this.maxListed) this.killed.push({ pid, command: (space < 0 ? "" : rest.slice(space + 1)).trim().slice(0, MAX_COMMAND_CHARS) });
    }
  }
}

/**
 * Runs the sweep on a session, outside its queue of command slots (the lease's own commands may
 * hold them all). Throws when the scan could not be done; `left` > 0 is for the caller to judge.
 */
export async function sweepMarkedProcesses(
  session: SshSession,
  name: string,
  value: string,
  options: { timeoutMs: number; maxListed: number },
): Promise<SweepResult & { unlisted: number }> {
  const { channel, exit } = await session.execUrgent(sweepCommandLine(name, value, options.maxListed));
  const reader = new SweepOutputReader(options.maxListed);
  const outcome = await new Promise<{ result: SweepResult | { error: string }; stderr: string }>((resolve) => {
    let stderr = "";
    const timer = setTimeout(() => channel.close(), options.timeoutMs);
    channel.setEncoding("utf8");
    channel.on("data", (chunk: string) => reader.push(chunk));
    channel.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < 2048) stderr += chunk.toString("utf8");
    });
    channel.on("error", () => {}); // 'close' follows
    channel.on("close", () => {
      clearTimeout(timer);
      resolve({ result: reader.finish(), stderr: stderr.trim() });
    });
    channel.end();
  });
  if ("error" in outcome.result) {
    const status = exit();
    const detail = outcome.stderr || (status ? `exit ${status.code ?? status.signal}` : "no exit status");
    throw new Error(`cannot look for processes carrying ${name}=${value} on ${session.description}: ${outcome.result.error} (${detail})`);
  }
  return { ...outcome.result, unlisted: reader.unlisted };
}
