/**
 * Processes a working-copy lease leaves behind, found and ended, so that no lease's process
 * writes into the checkout of the next lease on the copy.
 *
 * Every command a lease runs through the copy's interfaces carries `DRYDOCK_WORKING_COPY=<copy>`
 * and `DRYDOCK_WORKING_COPY_LEASE=<lease>` in its environment, and so does everything it starts
 * (`setsid`, `nohup … &`, daemons). Two sweeps, over /proc on the host, through the host lease's
 * command interface:
 * - a lease's activation ends every process of the copy before it cleans the tree. No lease is
 *   active on the copy then (one lease slot), and the git commands carry no marker;
 * - a lease's teardown ends its own processes (by its lease entry: by then the copy may already
 *   serve the next lease, whose processes must live).
 * Matching is on the exact NUL-delimited `NAME=value` entry of /proc/PID/environ, for processes of
 * the host user only. On the local host each command already has its own PID namespace (nothing
 * survives it) and the sweep finds nothing. Not found, as for host leases: processes that clear
 * their environment, or that another service starts.
 */
import type { KilledProcess } from "../../interfaces/marked-processes";
import type { CommandInterface } from "../../interfaces/command-interface";

export const COPY_MARKER = "DRYDOCK_WORKING_COPY";
export const COPY_LEASE_MARKER = "DRYDOCK_WORKING_COPY_LEASE";

/** The entries a lease's commands carry; set last, so a request's `env` cannot replace them. */
export function copyMarkers(resourceId: string, leaseId: string): Record<string, string> {
  return { [COPY_MARKER]: resourceId, [COPY_LEASE_MARKER]: leaseId };
}

/**
 * `sh -c SWEEP sh ENTRY`: KILLs the user's processes carrying ENTRY, in rounds, printing
 * `killed PID COMM`. As the host leases' sweep (src/interfaces/marked-processes.ts), forks are
 * what it costs: one `grep -lzxF` reads every environ at once where grep has -z (GNU, busybox),
 * else a POSIX grep narrows to candidates checked one by one; ownership is `test -O` where the
 * shell has it.
 */
const SWEEP = [
  'm="$1"; me=$(id -u); round=0',
  'if [ -O "/proc/$$" ] 2>/dev/null; then own() { [ -O "/proc/$1" ]; }; else own() { [ "$(awk \'$1 == "Uid:" { print $2; exit }\' "/proc/$1/status" 2>/dev/null)" = "$me" ]; }; fi',
  "if printf 'x\\000' | grep -qzxF -e x 2>/dev/null; then cands() { grep -lzxF -e \"$m\" /proc/[0-9]*/environ 2>/dev/null; }; " +
    "else cands() { for f in $(grep -l -F -e \"$m\" /proc/[0-9]*/environ 2>/dev/null); do { tr '\\000' '\\n' <\"$f\"; } 2>/dev/null | grep -qxF -e \"$m\" && echo \"$f\"; done; }; fi",
  "while [ $round -lt 10 ]; do",
  "  found=0",
  "  for f in $(cands); do",
  '    p=${f#/proc/}; p=${p%/environ}; [ "$p" = "$$" ] && continue; own "$p" || continue',
  '    c=$(head -c 64 "/proc/$p/comm" 2>/dev/null); kill -9 "$p" 2>/dev/null && { found=1; printf \'killed %s %s\\n\' "$p" "$c"; }',
  "  done",
  '  [ "$found" = 0 ] && break; round=$((round + 1)); sleep 0.05',
  "done",
].join("\n");

export function sweepArgv(name: typeof COPY_MARKER | typeof COPY_LEASE_MARKER, value: string): string[] {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(value)) throw new Error(`not an id: ${JSON.stringify(value)}`);
  return ["sh", "-c", SWEEP, "sh", `${name}=${value}`];
}

export function parseSweep(stdout: string): KilledProcess[] {
  const killed: KilledProcess[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^killed (\d+) ?(.*)$/.exec(line);
    if (m) killed.push({ pid: Number(m[1]), command: m[2]!.slice(0, 64) });
  }
  return killed;
}

export async function sweepProcesses(command: CommandInterface, name: typeof COPY_MARKER | typeof COPY_LEASE_MARKER, value: string): Promise<KilledProcess[]> {
  const result = await command.exec(sweepArgv(name, value), { timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new Error(`the process sweep failed (exit ${result.exitCode ?? result.signal}): ${result.stderr.trim().slice(0, 300)}`);
  return parseSweep(result.stdout);
}
