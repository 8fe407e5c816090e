import { parseArgs } from "node:util";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import type { Database } from "../store/database";
import type { PoolPolicy } from "../simulate/policy";
import { readWorkload } from "../simulate/read-workload";
import { implementationsOf, simulationRegistry } from "../simulate/simulation-registry";
import { formatSimulation, simulationReport } from "../simulate/simulation-report";
import type { WorkloadBlueprint } from "../simulate/workload";

export const simulateUsage = `usage: drydock simulate [--from TIME] [--to TIME] [--slots BLUEPRINT=N] [--limit BLUEPRINT=N]
                        [--min-ready BLUEPRINT=N] [--priority OWNER=N] [--wait-over S] [--reclaim-idle S] [--json]
  TIME: ISO (2026-01-01T12:00:00Z) or relative to now (-2h, -30m, -90s, -1d, now); default --from -1h --to now
  BLUEPRINT: a blueprint's name or id; the flags repeat, one change each`;

/** The service's default reclaimIdleMs (src/service/drydock.ts). */
const DEFAULT_RECLAIM_IDLE_SECONDS = 300;

class UsageError extends Error {}

export interface SimulateOptions {
  /** Where usage errors go (stderr). */
  err?: (line: string) => void;
  /** "now", for relative times (tests fix it). */
  now?: Date;
  /** Blueprint kinds whose predicates the simulation uses (default: the service's). */
  registry?: BlueprintRegistry;
}

/**
 * `drydock simulate`: replays the recorded requests and releases of a window through the real
 * allocation decision on a virtual clock, under the recorded policy and a changed one, and prints
 * them side by side with the record. Reads the log in a read-only transaction (read-workload.ts);
 * a bad flag is named, with exit 2.
 */
export async function simulateCommand(database: Database, args: string[], out: (line: string) => void, options: SimulateOptions = {}): Promise<number> {
  const err = options.err ?? ((line: string) => console.error(line));
  const now = options.now ?? new Date();
  try {
    const flags = parseFlags(args, now);
    const { workload } = await readWorkload(database.db, flags.window);
    const policy = resolvePolicy(flags, workload.blueprints);
    const registry = options.registry ?? simulationRegistry();
    const report = simulationReport(workload, policy, implementationsOf(registry), { waitOverSeconds: flags.waitOverSeconds, reclaimIdleMs: flags.reclaimIdleSeconds * 1000 });
    if (flags.json) out(JSON.stringify(report, null, 2));
    else for (const line of formatSimulation(report)) out(line);
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`drydock simulate: ${error.message}`);
    err(simulateUsage);
    return 2;
  }
}

interface Flags {
  window: { from: number; to: number };
  pairs: { flag: "slots" | "limit" | "min-ready" | "priority"; key: string; value: number }[];
  waitOverSeconds: number;
  reclaimIdleSeconds: number;
  json: boolean;
}

function parseFlags(args: string[], now: Date): Flags {
  // `--from -2h`: parseArgs would take -2h for an option; join it as `--from=-2h`.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if ((a === "--from" || a === "--to") && args[i + 1]?.startsWith("-")) joined.push(`${a}=${args[++i]}`);
    else joined.push(a);
  }
  const many = { type: "string", multiple: true } as const;
  let values;
  try {
    ({ values } = parseArgs({
      args: joined,
      options: {
        from: { type: "string" },
        to: { type: "string" },
        slots: many,
        limit: many,
        "min-ready": many,
        priority: many,
        "wait-over": { type: "string" },
        "reclaim-idle": { type: "string" },
        json: { type: "boolean" },
      },
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const from = timeFlag("--from", values.from ?? "-1h", now);
  const to = timeFlag("--to", values.to ?? "now", now);
  if (from >= to) throw new UsageError(`--from (${new Date(from).toISOString()}) must be before --to (${new Date(to).toISOString()})`);
  const pairs: Flags["pairs"] = [];
  for (const flag of ["slots", "limit", "min-ready", "priority"] as const) {
    const min = flag === "priority" ? -1000 : flag === "min-ready" ? 0 : 1;
    const max = flag === "priority" ? 1000 : 100_000;
    for (const raw of values[flag] ?? []) {
      const eq = raw.lastIndexOf("=");
      const key = eq > 0 ? raw.slice(0, eq) : "";
      const value = Number(raw.slice(eq + 1));
      const what = flag === "priority" ? "OWNER" : "BLUEPRINT";
      if (eq <= 0 || !Number.isInteger(value) || value < min || value > max || raw.slice(eq + 1).trim() === "") {
        throw new UsageError(`--${flag} takes ${what}=N with N a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
      }
      pairs.push({ flag, key, value });
    }
  }
  return {
    window: { from, to },
    pairs,
    waitOverSeconds: secondsFlag("--wait-over", values["wait-over"], 60),
    reclaimIdleSeconds: secondsFlag("--reclaim-idle", values["reclaim-idle"], DEFAULT_RECLAIM_IDLE_SECONDS),
    json: values.json ?? false,
  };
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An ISO time, `now`, or a relative one (-2h) counted back from now. */
export function timeFlag(flag: string, raw: string, now: Date): number {
  if (raw === "now") return now.getTime();
  const relative = /^-(\d+(?:\.\d+)?)([smhd])$/.exec(raw);
  if (relative) return now.getTime() - Number(relative[1]) * UNITS[relative[2]!]!;
  const at = /^\d{4}-\d{2}-\d{2}/.test(raw) ? new Date(raw).getTime() : NaN;
  if (Number.isNaN(at)) throw new UsageError(`${flag} takes an ISO time (2026-01-01T12:00:00Z), now, or a time back from now (-2h, -30m, -90s, -1d), not ${JSON.stringify(raw)}`);
  return at;
}

function secondsFlag(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag} takes seconds (0 or more), not ${JSON.stringify(raw)}`);
  return n;
}

/** BLUEPRINT by id, else by name (one match only); an unknown or ambiguous one names its flag. */
function resolvePolicy(flags: Flags, blueprints: readonly WorkloadBlueprint[]): PoolPolicy {
  const policy: PoolPolicy = { slots: {}, limit: {}, minReady: {}, priority: {} };
  for (const { flag, key, value } of flags.pairs) {
    if (flag === "priority") {
      policy.priority[key] = value;
      continue;
    }
    const byId = blueprints.find((b) => b.blueprintId === key);
    const byName = blueprints.filter((b) => b.name === key);
    if (!byId && byName.length > 1) throw new UsageError(`--${flag}: ${byName.length} blueprints are named ${JSON.stringify(key)}; name one by id (${byName.map((b) => b.blueprintId).join(", ")})`);
    const blueprint = byId ?? byName[0];
    if (!blueprint) {
      const known = blueprints.map((b) => b.name).join(", ") || "none";
      throw new UsageError(`--${flag}: no blueprint ${JSON.stringify(key)} existed in the window (known: ${known})`);
    }
    const id = blueprint.blueprintId;
    switch (flag) {
      case "slots":
        policy.slots[id] = value;
        break;
      case "limit":
        policy.limit[id] = value;
        break;
      case "min-ready":
        policy.minReady[id] = value;
        break;
      default: {
        const never: never = flag;
        throw new Error(`unknown flag ${String(never)}`);
      }
    }
  }
  return policy;
}
