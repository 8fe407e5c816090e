/**
 * Where a benchmark phase's CPU went, process by process: the database server's (PostgreSQL on
 * this machine), and the whole machine's, read from /proc. With the service's (process.cpuUsage)
 * and the client process's, it says what one cycle costs in CPU, and so what the machine's cores
 * allow at most, whatever the latencies: cycles/s ≤ cores ÷ CPU a cycle.
 *
 * Linux only; elsewhere, or with the server on another machine (its processes not in /proc),
 * the server's figure is null and the bench says so.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { sql } from "kysely";
import type { Database } from "../src/store/database";

/** /proc's times are in USER_HZ, 100 a second on every Linux the kernel's ABI allows. */
const TICK_MS = 10;

/** CPU milliseconds each process had used, by pid, at one moment. */
export type ProcessTimes = Map<number, number>;

/**
 * A /proc/<pid>/stat line's parent pid and CPU so far (user + system, ms). The command name
 * (field 2, in parentheses) may hold spaces and parentheses itself: the fields are those after
 * its last closing parenthesis, field 3 on.
 */
export function parseProcStat(line: string): { ppid: number; cpuMs: number } {
  const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
  // ppid is field 4; utime and stime are fields 14 and 15.
  const [ppid, utime, stime] = [fields[1], fields[11], fields[12]].map(Number);
  if (!Number.isFinite(ppid) || !Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`not a /proc/<pid>/stat line: ${line.slice(0, 80)}`);
  return { ppid: ppid!, cpuMs: (utime! + stime!) * TICK_MS };
}

/** A process's /proc stat, or null when it is not in /proc (gone, or not on this machine). */
function statOf(pid: number): { ppid: number; cpuMs: number } | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/**
 * The CPU the database server's processes have used so far: every backend and background process
 * pg_stat_activity lists, and the postmaster that is their parent. Null on PGlite (its CPU is the
 * service process's own) and when the server's processes are not on this machine.
 */
async function serverTimes(database: Database): Promise<ProcessTimes | null> {
  if (database.kind !== "postgres") return null;
  // A figure the bench can print without, never a reason to stop it: a failed read is "n/a".
  const rows = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity`.execute(database.db).then((r) => r.rows, () => []);
  const times: ProcessTimes = new Map();
  let postmaster: number | null = null;
  for (const { pid } of rows) {
    const stat = statOf(pid);
    if (stat === null) continue;
    times.set(pid, stat.cpuMs);
    postmaster ??= stat.ppid;
  }
  if (times.size === 0) return null;
  const parent = postmaster === null ? null : statOf(postmaster);
  if (postmaster !== null && parent !== null) times.set(postmaster, parent.cpuMs);
  return times;
}

/** Bytes of WAL the PostgreSQL server has written so far (all its databases); null on PGlite. */
async function walPosition(database: Database): Promise<number | null> {
  if (database.kind !== "postgres") return null;
  // On a standby, or for a role that may not call it: "n/a", as serverTimes.
  const rows = await sql<{ bytes: string }>`SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS bytes`.execute(database.db).then((r) => r.rows, () => []);
  return rows[0] ? Number(rows[0].bytes) : null;
}

/**
 * The server's CPU between two readings, in ms: each process's growth, and the whole of one that
 * started meanwhile. A process that ended meanwhile (an autovacuum worker) is not counted: the
 * figure is a floor, close when the phase is seconds long and the pool's connections live through it.
 */
export function serverCpuBetween(before: ProcessTimes | null, after: ProcessTimes | null): number | null {
  if (!before || !after) return null;
  let ms = 0;
  for (const [pid, cpu] of after) ms += cpu - (before.get(pid) ?? 0);
  return ms;
}

/**
 * The machine's CPU time so far (ms, all cores), from /proc/stat: busy (this machine's own work),
 * stolen (a virtual machine's cores the hypervisor gave to others while it had work), and total.
 */
function machineTimes(): MachineTimes | null {
  try {
    return parseMachineLine(readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!);
  } catch {
    return null;
  }
}

export interface MachineTimes {
  busy: number;
  steal: number;
  total: number;
}

/** /proc/stat's first line (all cores), in ms. */
export function parseMachineLine(line: string): MachineTimes {
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is within user).
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = user! + nice! + system! + irq! + softirq!;
  if (!line.startsWith("cpu ") || !Number.isFinite(busy + idle! + iowait! + steal!)) throw new Error(`not /proc/stat's cpu line: ${line.slice(0, 80)}`);
  return { busy: busy * TICK_MS, steal: steal! * TICK_MS, total: (busy + steal! + idle! + iowait!) * TICK_MS };
}

/** Steal above this share of the phase is reported with the figures. */
const STEAL_WORTH_SAYING = 0.03;

const pct = (share: number) => `${(share * 100).toFixed(0)} %`;

export interface CycleCpu {
  service: number;
  server: number | null;
  /** WAL bytes the server wrote in the phase; null on PGlite. */
  wal: number | null;
  clients: number | null;
  /** Shares of all the machine's core time in the phase (0–1): busy, and stolen by the hypervisor; null without /proc. */
  machine: { busy: number; steal: number } | null;
}

/** The machine's shares of busy and stolen core time between two readings of machineTimes(). */
export function machineBetween(before: MachineTimes | null, after: MachineTimes | null): CycleCpu["machine"] {
  if (!before || !after) return null;
  const total = Math.max(1, after.total - before.total);
  return { busy: (after.busy - before.busy) / total, steal: (after.steal - before.steal) / total };
}

/** What is read outside the service's process at one moment: the server's processes, its WAL position, the machine. */
export interface Accounts {
  server: ProcessTimes | null;
  wal: number | null;
  machine: MachineTimes | null;
}

/** Reads the accounts now (the two database reads together). */
export async function readAccounts(database: Database): Promise<Accounts> {
  const [server, wal] = await Promise.all([serverTimes(database), walPosition(database)]);
  return { server, wal, machine: machineTimes() };
}

/** What was spent between two readings: the server's CPU (ms), its WAL (bytes), the machine's shares. */
export function accountsBetween(before: Accounts, after: Accounts): Pick<CycleCpu, "server" | "wal" | "machine"> {
  return {
    server: serverCpuBetween(before.server, after.server),
    wal: before.wal === null || after.wal === null ? null : after.wal - before.wal,
    machine: machineBetween(before.machine, after.machine),
  };
}

/** The lines the bench prints: each part's CPU a cycle, and the most cycles/s the cores allow at that cost. */
export function describeCycleCpu(cpu: CycleCpu, cycles: number, target?: { cyclesPerSecond: number; label: string }, cores = availableParallelism()): string[] {
  const per = (ms: number | null) => (ms === null ? "n/a" : (ms / Math.max(1, cycles)).toFixed(2));
  const parts = [cpu.service, cpu.server ?? 0, cpu.clients ?? 0];
  const perCycle = parts.reduce((a, b) => a + b, 0) / Math.max(1, cycles);
  const lines = [
    `CPU per cycle (ms): service ${per(cpu.service)}, database server ${cpu.server === null ? "n/a (PGlite: in the service's; or not on this machine)" : per(cpu.server)}, clients ${per(cpu.clients)}; together ${perCycle.toFixed(2)}`,
    `cores: ${cores}${cpu.machine === null ? "" : `, busy ${pct(cpu.machine.busy)} of the phase`}; at ${perCycle.toFixed(2)} ms a cycle they allow at most ${((cores * 1000) / perCycle).toFixed(0)} cycles/s`,
  ];
  if (cpu.wal != null) lines.push(`WAL per cycle: ${(cpu.wal / Math.max(1, cycles) / 1024).toFixed(1)} kB`);
  // A virtual machine whose host runs others' work on its cores: every figure is slower, and the
  // CPU a cycle higher (caches shared), than on the same machine left alone.
  if (cpu.machine && cpu.machine.steal >= STEAL_WORTH_SAYING) {
    lines.push(`the hypervisor took ${pct(cpu.machine.steal)} of the cores' time (steal): this run's figures are not comparable with a quiet machine's`);
  }
  if (target) lines.push(`${target.label} (${target.cyclesPerSecond.toFixed(0)} cycles/s) allows at most ${((cores * 1000) / target.cyclesPerSecond).toFixed(2)} ms of CPU a cycle on ${cores} cores`);
  return lines;
}
