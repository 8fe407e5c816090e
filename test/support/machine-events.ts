import type { AnyMachineSnapshot } from "xstate";
import type { RecordedEvent } from "../../events/envelope";
import type { BlueprintMachineEvent } from "../../src/machines/blueprint-machine";
import type { LeaseMachineEvent } from "../../src/machines/lease-machine";
import type { ResourceMachineEvent } from "../../src/machines/resource-machine";

/**
 * One sample machine event per event type (two for LeaseReleased: requested and expired), with
 * valid data per the zod schemas in events/*.ts. `at` values carry milliseconds so they survive
 * the `Date` round trip through RecordedEvent.recordedAt unchanged.
 *
 * Each machine's unit test validates its samples against the schemas, so they cannot drift.
 */

export const leaseSampleEvents: LeaseMachineEvent[] = [
  {
    type: "LeaseRequested",
    at: "2024-05-01T10:00:00.000Z",
    data: {
      leaseId: "lease-1",
      resourceType: "host",
      attributes: { region: "eu", size: "large" },
      blueprintIds: ["bp-1", "bp-2"],
      owner: "alice",
      ownerResourceId: null,
      ttlSeconds: 3600,
      expiresAt: "2024-05-01T11:00:00.000Z",
      authorizingObject: "alice",
    },
  },
  {
    type: "AllocationAttempted",
    at: "2024-05-01T10:00:01.000Z",
    data: {
      attempt: 1,
      decision: "allocate",
      candidates: [
        { kind: "resource", id: "res-0", blueprintId: "bp-1", outcome: "skipped", reason: "full" },
        { kind: "blueprint", id: "bp-1", outcome: "chosen", reason: "below limit" },
      ],
      summary: "allocating a new resource from bp-1",
      durationMs: 3,
    },
  },
  {
    type: "LeaseWaiting",
    at: "2024-05-01T10:00:02.000Z",
    data: { reason: "every blueprint is at its limit", retryAt: "2024-05-01T10:01:00.000Z", blueprintIds: ["bp-1"] },
  },
  {
    type: "LeaseYielded",
    at: "2024-05-01T10:00:03.000Z",
    data: {
      reason: "provider busy",
      retryAt: "2024-05-01T10:02:00.000Z",
      attempt: 2,
      error: { code: "EBUSY", message: "try again" },
    },
  },
  {
    type: "LeaseAcquired",
    at: "2024-05-01T10:00:04.000Z",
    data: { resourceId: "res-1", blueprintId: "bp-1", slot: 0, locks: ["resource-res-1-slot-0"] },
  },
  {
    type: "LeaseActivated",
    at: "2024-05-01T10:00:05.000Z",
    data: { workingDirectory: "/srv/work/lease-1" },
  },
  {
    type: "LeaseReacquiring",
    at: "2024-05-01T10:00:06.000Z",
    data: { resourceId: "res-1", reason: "resource broke before activation" },
  },
  {
    type: "LeaseQuotaChanged",
    at: "2024-05-01T10:00:06.500Z",
    data: { quota: { maxLiveLeases: 4 }, reason: "token tk_1: maxLiveLeases 4" },
  },
  {
    type: "LeaseRenewed",
    at: "2024-05-01T10:00:07.000Z",
    data: { ttlSeconds: 7200, expiresAt: "2024-05-01T12:00:07.000Z" },
  },
  {
    type: "LeaseReleased",
    at: "2024-05-01T10:00:08.000Z",
    data: { reason: "requested", detail: null },
  },
  {
    type: "LeaseReleased",
    at: "2024-05-01T10:00:09.000Z",
    data: { reason: "expired", detail: null },
  },
  {
    type: "LeaseBroken",
    at: "2024-05-01T10:00:10.000Z",
    data: { reason: "activation failed", error: { code: "EFAIL", message: "boom" } },
  },
  {
    type: "LeaseDestroyed",
    at: "2024-05-01T10:00:11.000Z",
    data: { cleanupError: null },
  },
];

export const resourceSampleEvents: ResourceMachineEvent[] = [
  {
    type: "ResourceAllocated",
    at: "2024-05-01T10:00:00.000Z",
    data: {
      resourceId: "res-1",
      blueprintId: "bp-1",
      resourceType: "host",
      attributes: { region: "eu" },
      leaseSlots: 2,
      locks: ["blueprint-bp-1-slot-0"],
      forLeaseId: "lease-1",
    },
  },
  {
    type: "ResourceActivated",
    at: "2024-05-01T10:00:01.000Z",
    data: { attributes: { ip: "10.0.0.1", region: "eu-west" } },
  },
  {
    type: "ResourceActivationYielded",
    at: "2024-05-01T10:00:02.000Z",
    data: { reason: "provider busy", retryAt: "2024-05-01T10:01:00.000Z", attempt: 1 },
  },
  {
    type: "ResourceReleased",
    at: "2024-05-01T10:00:03.000Z",
    data: { reason: "idle" },
  },
  {
    type: "ResourceBroken",
    at: "2024-05-01T10:00:04.000Z",
    data: { reason: "build failed", error: { code: "EBUILD", message: "exit 1" } },
  },
  {
    type: "ResourceDestroyed",
    at: "2024-05-01T10:00:05.000Z",
    data: {},
  },
  {
    type: "ResourceSuspected",
    at: "2024-05-01T10:00:06.000Z",
    data: { reason: "a lease could not use it: connection refused", error: { code: "unreachable", message: "connection refused" } },
  },
  {
    type: "ResourceRecovered",
    at: "2024-05-01T10:00:07.000Z",
    data: { reason: "its health check passed" },
  },
  {
    type: "ResourceHeld",
    at: "2024-05-01T10:00:08.000Z",
    data: { reason: "disk check", until: "2024-05-01T11:00:00.000Z", by: "admin", leaseId: null },
  },
  {
    type: "ResourceHoldReleased",
    at: "2024-05-01T10:00:09.000Z",
    data: { reason: "released by admin" },
  },
  {
    type: "ResourceDestroyDeferred",
    at: "2024-05-01T10:00:10.000Z",
    data: { reason: "destroy waits: on hold: disk check (by admin, until released)" },
  },
];

export const blueprintSampleEvents: BlueprintMachineEvent[] = [
  {
    type: "BlueprintCreated",
    at: "2024-05-01T10:00:00.000Z",
    data: {
      blueprintId: "bp-1",
      name: "hosts",
      kind: "local-command",
      resourceType: "host",
      config: { command: "make-host", tokenEnv: "HOST_TOKEN" },
      resourceLimit: 3,
    },
  },
  {
    type: "BlueprintUpdated",
    at: "2024-05-01T10:00:01.000Z",
    data: { name: "hosts-v2", resourceLimit: null },
  },
  {
    type: "BlueprintDisabled",
    at: "2024-05-01T10:00:02.000Z",
    data: { reason: "maintenance" },
  },
  {
    type: "BlueprintEnabled",
    at: "2024-05-01T10:00:03.000Z",
    data: {},
  },
  {
    type: "BlueprintTargetFailed",
    at: "2024-05-01T10:00:04.000Z",
    data: { target: "build-2", code: "host_key_mismatch", message: "the host key of build-2 did not match", failures: 1, retryAt: "2024-05-01T10:01:04.000Z" },
  },
  {
    type: "BlueprintTargetRecovered",
    at: "2024-05-01T10:00:05.000Z",
    data: { target: "build-2" },
  },
  {
    type: "BlueprintInstanceReaped",
    at: "2024-05-01T10:00:06.000Z",
    data: { instanceId: "i-0abc", resourceId: "rs_gone", region: "eu-west-1", reason: "its resource rs_gone is destroyed" },
  },
];

/** The sample of a given type (the first, when there are several). */
export function sampleOf<E extends { type: string }, T extends E["type"]>(samples: readonly E[], type: T): Extract<E, { type: T }> {
  const found = samples.find((e) => e.type === type);
  if (!found) throw new Error(`no sample event of type ${type}`);
  return found as Extract<E, { type: T }>;
}

/** Turn machine events into the stored events of one stream (versions 1..n, times from `at`). */
export function toRecordedEvents(
  streamId: string,
  events: readonly { type: string; data: unknown; at: string }[],
): RecordedEvent[] {
  return events.map((e, index) => ({
    globalPosition: index + 1,
    transactionId: String(1000 + index),
    eventId: `${streamId}-event-${index + 1}`,
    streamId,
    streamVersion: index + 1,
    type: e.type,
    version: 1,
    data: e.data,
    metadata: { actor: "test" },
    recordedAt: new Date(e.at),
  }));
}

/**
 * Graph traversal key: the state value only. The default key includes the context, and counters
 * such as `attempts` would make the graph infinite; the lifecycle is about states, not counters.
 */
export function byStateValue(snapshot: AnyMachineSnapshot): string {
  return JSON.stringify(snapshot.value);
}

/**
 * The domain events of an xstate/graph path. A path's first step is the machine's own
 * `xstate.init` (reaching the initial state); each step's `state` is the state *after* its event.
 */
export function pathEvents<E extends { type: string }>(path: { steps: readonly { event: E }[] }): E[] {
  return path.steps.map((s) => s.event).filter((e) => e.type !== "xstate.init");
}

/** The transitions a path walks, as `from --Event--> to`. */
export function pathEdges(path: {
  steps: readonly { event: { type: string }; state: { value: unknown } }[];
}): string[] {
  const edges: string[] = [];
  for (let i = 1; i < path.steps.length; i++) {
    const from = path.steps[i - 1]!.state.value as string;
    const step = path.steps[i]!;
    edges.push(`${from} --${step.event.type}--> ${step.state.value as string}`);
  }
  return edges;
}
