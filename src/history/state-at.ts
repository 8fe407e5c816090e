import type { RecordedEvent } from "../../events/envelope";
import { leaseFolder, resourceFolder, toMachineEvent, type FoldSnapshot, type LeaseState, type ResourceState } from "../machines/fold";

/**
 * The state of every lease and resource at a moment of the past, folded from the log through
 * the machines (pure, in memory). The moment is a time (events recorded at or before it) and/or
 * a global position (events at or before it).
 *
 * A stream's state is the fold of a prefix of its events: once one of its events falls after
 * the moment, the rest of the stream is ignored even if a later one carries an earlier time
 * (clocks of several processes are not perfectly in step).
 */
export interface Moment {
  asOf?: Date;
  toPosition?: number;
}

const folders = { lease: leaseFolder, resource: resourceFolder } as const;
type Kind = keyof typeof folders;

interface Entry {
  kind: Kind;
  snap: FoldSnapshot;
  version: number;
  /** An event past the moment (or a gap) was seen: nothing more of this stream is folded. */
  closed: boolean;
}

export function isWithin(e: Pick<RecordedEvent, "recordedAt" | "globalPosition">, moment: Moment): boolean {
  if (moment.asOf && e.recordedAt.getTime() > moment.asOf.getTime()) return false;
  if (moment.toPosition !== undefined && e.globalPosition > moment.toPosition) return false;
  return true;
}

export class StateAt {
  private readonly streams = new Map<string, Entry>();
  private folded = 0;

  constructor(private readonly moment: Moment) {}

  /** Takes the log's events in any order that keeps each stream's versions in order. */
  add(e: RecordedEvent): void {
    // Without slicing the id: a string made for every event of the log, to be thrown away.
    const kind: Kind | null = e.streamId.startsWith("lease-") ? "lease" : e.streamId.startsWith("resource-") ? "resource" : null;
    if (kind === null) return;
    const folder = folders[kind];
    let entry = this.streams.get(e.streamId);
    if (!entry) {
      if (!isWithin(e, this.moment)) return;
      entry = { kind, snap: folder.start(), version: 0, closed: false };
      this.streams.set(e.streamId, entry);
    }
    if (entry.closed) return;
    if (!isWithin(e, this.moment) || e.streamVersion !== entry.version + 1) {
      entry.closed = true;
      return;
    }
    entry.snap = folder.step(entry.snap, toMachineEvent(e), e);
    entry.version = e.streamVersion;
    this.folded++;
  }

  /** Events folded so far (those within the moment). */
  get events(): number {
    return this.folded;
  }

  leases(): LeaseState[] {
    return this.of("lease") as LeaseState[];
  }

  resources(): ResourceState[] {
    return this.of("resource") as ResourceState[];
  }

  private of(kind: Kind) {
    const out = [];
    for (const entry of this.streams.values()) {
      if (entry.kind === kind) out.push(folders[kind].view(entry.snap, entry.version));
    }
    return out;
  }
}

/** Folds the events of a few streams (any order within the log's) as of a moment. */
export function statesAt(events: Iterable<RecordedEvent>, moment: Moment): { leases: LeaseState[]; resources: ResourceState[] } {
  const state = new StateAt(moment);
  for (const e of events) state.add(e);
  return { leases: state.leases(), resources: state.resources() };
}
