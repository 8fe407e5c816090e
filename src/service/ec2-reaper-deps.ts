import type { Kysely } from "kysely";
import type { Ec2Cloud, Ec2Location } from "../blueprints/ec2-host/ec2-cloud";
import type { LeakReaperDeps } from "../blueprints/ec2-host/leak-reaper";
import type { ReapVerdict } from "../blueprints/ec2-host/reap-decision";
import { recordInstanceReaped } from "../commands/blueprint-commands";
import { NotFoundError } from "../domain/errors";
import type { EventStore } from "../store/event-store";
import type { DrydockDatabase } from "../store/schema";

/**
 * What the EC2 leak reaper reads from Drydock's tables (the service's interval and
 * `drydock ec2 reap` share it): the locations of the `ec2-host` blueprints, and the status of
 * resources by id.
 */
export function reaperDepsFrom(
  db: Kysely<DrydockDatabase>,
  parts: { cloud(location: Ec2Location): Ec2Cloud; installationId(): Promise<string>; now(): Date; record: LeakReaperDeps["record"] },
): LeakReaperDeps {
  return {
    ...parts,
    async locations() {
      const rows = await db.selectFrom("blueprints").select("config").where("kind", "=", "ec2-host").execute();
      return rows.map((r) => r.config as { region: string; endpoint?: string; profile?: string }).map(({ region, endpoint, profile }) => ({ region, endpoint, profile }));
    },
    async resourceStatuses(ids) {
      if (ids.length === 0) return new Map();
      const rows = await db.selectFrom("resources").select(["resource_id", "status"]).where("resource_id", "in", [...ids]).execute();
      return new Map(rows.map((r) => [r.resource_id, r.status]));
    },
  };
}

/**
 * Records a reaped instance in the log, on its blueprint's stream (BlueprintInstanceReaped), so
 * the history says which instance went and why. An instance without a blueprint tag, or whose
 * blueprint is unknown to the log, has nowhere to be recorded: false, and the caller logs it.
 */
export async function recordReapedInstance(store: EventStore, reaped: ReapVerdict & { location: Ec2Location }, actor: string): Promise<boolean> {
  if (!reaped.blueprintId) return false;
  const data = { instanceId: reaped.instanceId, resourceId: reaped.resourceId, region: reaped.location.region, reason: reaped.reason };
  try {
    await recordInstanceReaped({ store }, reaped.blueprintId, data, { actor });
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
}
