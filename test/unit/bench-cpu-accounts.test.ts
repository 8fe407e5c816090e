import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { describeCycleCpu, machineBetween, parseMachineLine, parseProcStat, serverCpuBetween } from "../../bench/cpu-accounts";

// What bench/lease-cycle and bench/http-floor print as each process's CPU a cycle, and the most
// cycles a second the machine's cores allow at that cost: read from /proc, so the parsing of its
// lines is what decides whether the figures are right.

describe("the benchmarks' CPU accounts", () => {
  it("reads a process's parent and CPU from its stat line, whatever its command name holds", () => {
    // A command name with spaces and a closing parenthesis, as a process may set its own.
    const line = "4242 (postgres: a) b) S 4100 4242 4242 0 -1 4194560 1200 0 0 0 731 269 0 0 20 0 1 0 100 227659776 3500 18446744073709551615";
    expect(parseProcStat(line)).toEqual({ ppid: 4100, cpuMs: (731 + 269) * 10 });
  });

  it("reads this process's own stat line, as it reads the database server's", () => {
    const stat = parseProcStat(readFileSync("/proc/self/stat", "utf8"));
    expect(stat.ppid).toBe(process.ppid);
    // This process has run this file's imports at least: some CPU, less than it has lived.
    expect(stat.cpuMs).toBeGreaterThan(0);
    expect(stat.cpuMs).toBeLessThan(process.uptime() * 1000 * 64);
  });

  it("refuses a line that is not a stat line rather than counting nothing", () => {
    expect(() => parseProcStat("no such thing")).toThrow(/stat line/);
    expect(() => parseMachineLine("intr 1 2 3")).toThrow(/cpu line/);
  });

  it("splits the machine's time into its own work, the hypervisor's steal and the rest", () => {
    // user nice system idle iowait irq softirq steal
    const before = parseMachineLine("cpu  1000 0 500 8000 100 0 50 0 0 0");
    const after = parseMachineLine("cpu  1600 0 800 8300 100 0 100 200 0 0");
    expect(before).toEqual({ busy: 15_500, steal: 0, total: 96_500 });
    // 950 ticks of work, 200 stolen, 300 idle: of 1,450.
    expect(machineBetween(before, after)).toEqual({ busy: 950 / 1450, steal: 200 / 1450 });
    expect(machineBetween(null, after)).toBeNull();
  });

  it("counts the server's CPU per process between two readings, a process started meanwhile whole", () => {
    const before = new Map([
      [10, 1_000],
      [11, 500],
    ]);
    const after = new Map([
      [10, 1_400],
      [11, 500],
      [12, 30],
    ]);
    expect(serverCpuBetween(before, after)).toBe(430);
    expect(serverCpuBetween(null, after)).toBeNull();
  });

  it("says the ceiling the cores allow at the measured CPU a cycle, and what a target allows", () => {
    const lines = describeCycleCpu({ service: 4_000, server: 3_000, wal: 10 * 1024 * 1000, clients: 1_000, machine: { busy: 0.8, steal: 0.1 } }, 1_000, { cyclesPerSecond: 500, label: "the target" }, 2);
    expect(lines[0]).toBe("CPU per cycle (ms): service 4.00, database server 3.00, clients 1.00; together 8.00");
    // 2 cores of 1,000 ms a second, 8 ms a cycle: 250 cycles a second at most.
    expect(lines[1]).toBe("cores: 2, busy 80 % of the phase; at 8.00 ms a cycle they allow at most 250 cycles/s");
    expect(lines).toContain("WAL per cycle: 10.0 kB");
    expect(lines.some((l) => l.startsWith("the hypervisor took 10 %"))).toBe(true);
    expect(lines.at(-1)).toBe("the target (500 cycles/s) allows at most 4.00 ms of CPU a cycle on 2 cores");
  });

  it("leaves out what it could not measure, and a steal too small to matter", () => {
    const lines = describeCycleCpu({ service: 2_000, server: null, wal: null, clients: null, machine: { busy: 0.5, steal: 0.01 } }, 1_000, undefined, 2);
    expect(lines[0]).toMatch(/database server n\/a .*clients n\/a; together 2\.00$/);
    expect(lines.some((l) => l.includes("hypervisor") || l.includes("WAL"))).toBe(false);
  });
});
