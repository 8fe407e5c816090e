import { parseArgs } from "node:util";
import { formatVerifyReport } from "../history/format-verify-report";
import { verifyStoredLog } from "../history/verify-stored-log";
import type { Database } from "../store/database";
import { PostgresEventStore } from "../store/event-store";

/** Leases and resources that ended this recently may still be being cleaned up by a worker. */
const DEFAULT_GRACE_SECONDS = 300;

/** `drydock verify [--grace SECONDS] [--json]`: replays the whole log and checks its invariants; exit 0 or 1. */
export async function verifyCommand(database: Database, args: string[], out: (line: string) => void, now: Date = new Date()): Promise<number> {
  const { values } = parseArgs({ args, options: { grace: { type: "string" }, json: { type: "boolean" } }, allowPositionals: false });
  const grace = values.grace === undefined ? DEFAULT_GRACE_SECONDS : Number(values.grace);
  if (!Number.isFinite(grace) || grace < 0) throw new Error(`--grace takes seconds, not ${values.grace}`);
  const store = new PostgresEventStore(database.db, [], { now: () => now });
  const report = await verifyStoredLog(store, { now, graceMs: grace * 1000 });
  if (values.json) out(JSON.stringify(report, null, 2));
  else for (const line of formatVerifyReport(report)) out(line);
  return report.violations.length === 0 ? 0 : 1;
}
