/**
 * Which of this installation's instances the leak reaper terminates. Pure: the instances EC2
 * listed, what the log says of their resources, the suspects of earlier passes, and the time.
 *
 * An instance is a suspect when its resource is destroyed, broken, or unknown to the log (or it
 * names none): nothing will use it, and nothing else will terminate it. It is reaped only when
 * two passes at least `graceMs` apart agree, so that an instance whose resource is being
 * recorded right now (a launch racing the reaper) is never killed on one look. An instance that
 * stops being a suspect (its resource turned out to be live) leaves the list.
 */
export type ResourceStatusOf = (resourceId: string) => string | undefined;

export interface TaggedInstance {
  instanceId: string;
  state: string;
  /** Its `drydock:resource` and `drydock:blueprint` tags, when it has them. */
  resourceId: string | null;
  blueprintId: string | null;
}

export interface ReapVerdict {
  instanceId: string;
  resourceId: string | null;
  blueprintId: string | null;
  reason: string;
  /** When a pass first saw it as a suspect. */
  suspectSince: Date;
}

export interface ReapDecision {
  /** Confirmed by two passes `graceMs` apart: terminate. */
  reap: ReapVerdict[];
  /** Seen for the first time (or not long enough): looked at again next pass. */
  suspects: ReapVerdict[];
  /** The suspect list to keep for the next pass. */
  next: Map<string, Date>;
}

/** Resource statuses whose instance nobody uses or will terminate. */
const ORPHANING = new Set(["destroyed", "broken"]);

export function decideReap(instances: readonly TaggedInstance[], statusOf: ResourceStatusOf, before: ReadonlyMap<string, Date>, now: Date, graceMs: number): ReapDecision {
  const reap: ReapVerdict[] = [];
  const suspects: ReapVerdict[] = [];
  const next = new Map<string, Date>();
  for (const instance of instances) {
    if (instance.state === "shutting-down" || instance.state === "terminated") continue;
    const reason = orphanReason(instance, statusOf);
    if (reason === null) continue;
    const since = before.get(instance.instanceId) ?? now;
    const verdict = { instanceId: instance.instanceId, resourceId: instance.resourceId, blueprintId: instance.blueprintId, reason, suspectSince: since };
    if (now.getTime() - since.getTime() >= graceMs && before.has(instance.instanceId)) reap.push(verdict);
    else {
      suspects.push(verdict);
      next.set(instance.instanceId, since);
    }
  }
  return { reap, suspects, next };
}

function orphanReason(instance: TaggedInstance, statusOf: ResourceStatusOf): string | null {
  if (instance.resourceId === null) return "it carries this installation's tag but no drydock:resource tag";
  const status = statusOf(instance.resourceId);
  if (status === undefined) return `its resource ${instance.resourceId} is unknown to the log`;
  if (ORPHANING.has(status)) return `its resource ${instance.resourceId} is ${status}`;
  return null;
}
