/**
 * The leak reaper: on an interval (and on demand, dry-run or not), lists the instances that carry
 * this installation's tag in every location an `ec2-host` blueprint uses, and terminates those
 * whose resource is destroyed, broken or unknown, once two passes `graceMs` apart agree
 * (reap-decision.ts). Each termination is reported (instance, resource, reason) to `record`.
 *
 * It is the backstop, not the normal path: destroyResource terminates an instance itself, and a
 * resource's activation adopts the instance its lost launch started. It catches what those
 * cannot: a database restored from before a launch, a teardown that gave up, a hand-made
 * instance carrying the tag.
 */
import type { Ec2Cloud, Ec2Location } from "./ec2-cloud";
import { decideReap, type ReapVerdict, type TaggedInstance } from "./reap-decision";
import { TAGS } from "./launch-plan";

export interface LeakReaperDeps {
  cloud(location: Ec2Location): Ec2Cloud;
  installationId(): Promise<string>;
  /** The locations of every ec2-host blueprint (enabled or not: a disabled one's instances still cost). */
  locations(): Promise<Ec2Location[]>;
  /** The log's status of each resource id (absent: unknown to the log). */
  resourceStatuses(resourceIds: readonly string[]): Promise<Map<string, string>>;
  now(): Date;
  /** Told of each instance terminated; never throws. */
  record(reaped: ReapVerdict & { location: Ec2Location }): Promise<void>;
}

export interface ReapReport {
  reaped: (ReapVerdict & { location: Ec2Location })[];
  /** Suspects seen this pass, reaped on a later pass if they still are. */
  suspects: (ReapVerdict & { location: Ec2Location })[];
  /** Locations that could not be listed (EC2's error): nothing there was decided. */
  failures: { location: Ec2Location; message: string }[];
}

export class Ec2LeakReaper {
  private suspects = new Map<string, Date>();

  constructor(
    private readonly deps: LeakReaperDeps,
    private readonly graceMs: number,
  ) {}

  /** One pass. A dry run terminates nothing and forgets nothing: it says what a pass would do. */
  async pass(options: { dryRun?: boolean } = {}): Promise<ReapReport> {
    const report: ReapReport = { reaped: [], suspects: [], failures: [] };
    const locations = dedupe(await this.deps.locations());
    if (locations.length === 0) return report;
    const installation = await this.deps.installationId();
    const next = new Map<string, Date>();
    for (const location of locations) {
      const cloud = this.deps.cloud(location);
      let instances: TaggedInstance[];
      try {
        instances = (await cloud.describeInstances({ tags: { [TAGS.installation]: installation }, states: ["pending", "running", "stopping", "stopped"] })).map((i) => ({
          instanceId: i.instanceId,
          state: i.state,
          resourceId: i.tags[TAGS.resource] ?? null,
          blueprintId: i.tags[TAGS.blueprint] ?? null,
        }));
      } catch (error) {
        report.failures.push({ location, message: error instanceof Error ? error.message : String(error) });
        // Keep its suspects: one failed listing must not restart their grace period.
        for (const [id, since] of this.suspects) next.set(id, since);
        continue;
      }
      const ids = instances.map((i) => i.resourceId).filter((id): id is string => id !== null);
      const statuses = await this.deps.resourceStatuses(ids);
      const decision = decideReap(instances, (id) => statuses.get(id), this.suspects, this.deps.now(), this.graceMs);
      for (const [id, since] of decision.next) next.set(id, since);
      report.suspects.push(...decision.suspects.map((v) => ({ ...v, location })));
      if (decision.reap.length === 0) continue;
      if (options.dryRun) {
        report.reaped.push(...decision.reap.map((v) => ({ ...v, location })));
        for (const v of decision.reap) next.set(v.instanceId, v.suspectSince);
        continue;
      }
      try {
        await cloud.terminateInstances(decision.reap.map((v) => v.instanceId));
      } catch (error) {
        report.failures.push({ location, message: error instanceof Error ? error.message : String(error) });
        for (const v of decision.reap) next.set(v.instanceId, v.suspectSince);
        continue;
      }
      for (const verdict of decision.reap) {
        const reaped = { ...verdict, location };
        report.reaped.push(reaped);
        await this.deps.record(reaped);
      }
    }
    if (!options.dryRun) this.suspects = next;
    return report;
  }
}

function dedupe(locations: readonly Ec2Location[]): Ec2Location[] {
  const seen = new Map<string, Ec2Location>();
  for (const l of locations) seen.set(JSON.stringify([l.region, l.endpoint ?? null, l.profile ?? null]), l);
  return [...seen.values()];
}
