import { parseArgs } from "node:util";
import type { Ec2Cloud, Ec2Location } from "../blueprints/ec2-host/ec2-cloud";
import { sdkEc2Clouds } from "../blueprints/ec2-host/ec2-sdk-cloud";
import { installationIdFromLog } from "../blueprints/ec2-host/installation-id";
import { Ec2LeakReaper, type ReapReport } from "../blueprints/ec2-host/leak-reaper";
import { recordReapedInstance, reaperDepsFrom } from "../service/ec2-reaper-deps";
import { inlineProjections } from "../../projections/index";
import type { Database } from "../store/database";
import { PostgresEventStore } from "../store/event-store";

/** On demand, the wait between the two passes that must agree before an instance is terminated. */
const DEFAULT_GRACE_SECONDS = 60;

export interface Ec2CliDeps {
  cloud?(location: Ec2Location): Ec2Cloud;
  sleep?(ms: number): Promise<void>;
  now?(): Date;
}

/**
 * `drydock ec2 reap [--dry-run] [--grace SECONDS] [--json]`: the leak reaper on demand, on the
 * service's database (src/blueprints/ec2-host/leak-reaper.ts). A pass lists this installation's
 * instances and their resources; without --dry-run a second pass `--grace` later terminates
 * those both passes found orphaned (destroyed, broken or unknown resource). Exit 1 when a
 * region could not be listed or an instance could not be terminated.
 */
export async function ec2Command(database: Database, args: string[], out: (line: string) => void, deps: Ec2CliDeps = {}): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "reap") throw new Error(`usage: drydock ec2 reap [--dry-run] [--grace SECONDS] [--json]${sub ? ` (not ${JSON.stringify(sub)})` : ""}`);
  const { values } = parseArgs({ args: rest, options: { "dry-run": { type: "boolean" }, grace: { type: "string" }, json: { type: "boolean" } }, allowPositionals: false });
  const grace = values.grace === undefined ? DEFAULT_GRACE_SECONDS : Number(values.grace);
  if (!Number.isFinite(grace) || grace < 0) throw new Error(`--grace takes seconds, not ${values.grace}`);
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const clouds = sdkEc2Clouds();
  // With the projections: a reaped instance is recorded on its blueprint's stream.
  const store = new PostgresEventStore(database.db, inlineProjections, { now });
  const reaped: string[] = [];
  const reaper = new Ec2LeakReaper(
    reaperDepsFrom(database.db, {
      cloud: deps.cloud ?? ((location) => clouds.cloud(location)),
      installationId: () => installationIdFromLog(async () => (await store.readByPosition(0, 1))[0]),
      now,
      async record(r) {
        reaped.push(r.instanceId);
        await recordReapedInstance(store, r, "ec2-reaper");
      },
    }),
    grace * 1000,
  );
  try {
    const first = await reaper.pass();
    let report: ReapReport = first;
    if (!values["dry-run"] && first.suspects.length > 0) {
      if (!values.json) out(`${first.suspects.length} suspect instance(s); looking again in ${grace} s before terminating`);
      await sleep(grace * 1000);
      report = await reaper.pass();
    }
    if (values.json) out(JSON.stringify({ dryRun: values["dry-run"] === true, ...report }, null, 2));
    else {
      const verb = values["dry-run"] ? "would be terminated if a pass after the grace period agrees" : "still a suspect";
      for (const r of report.reaped) out(`terminated ${r.instanceId} (${r.location.region}): ${r.reason}`);
      for (const s of report.suspects) out(`${s.instanceId} (${s.location.region}) ${verb}: ${s.reason}`);
      for (const f of report.failures) out(`cannot list or terminate in ${f.location.region}: ${f.message}`);
      if (report.reaped.length + report.suspects.length + report.failures.length === 0) out("no leaked instance");
    }
    return report.failures.length === 0 ? 0 : 1;
  } finally {
    clouds.close();
  }
}
