import type { z } from "zod";
import { authorizationEventSchemas, authorizationEventVersions, type AuthorizationEvent } from "./authorization-events";
import { blueprintEventSchemas, blueprintEventVersions, type BlueprintEvent } from "./blueprint-events";
import type { RecordedEvent, StreamType } from "./envelope";
import { leaseEventSchemas, leaseEventUpcasters, leaseEventVersions, type LeaseEvent } from "./lease-events";
import { resourceEventSchemas, resourceEventVersions, type ResourceEvent } from "./resource-events";
import { tokenEventSchemas, tokenEventVersions, type TokenEvent } from "./token-events";

export type DomainEvent = LeaseEvent | ResourceEvent | BlueprintEvent | TokenEvent | AuthorizationEvent;
export type DomainEventType = DomainEvent["type"];

interface CatalogueEntry {
  streamType: StreamType;
  version: number;
  schema: z.ZodType;
}

/**
 * Upcasters turn a stored (type, version) into the next version's data. Reads apply them in a
 * chain until the current version; the stored log is never rewritten.
 */
export type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;
const upcasters = new Map<string, Upcaster>();

function key(type: string, fromVersion: number): string {
  return `${type}@${fromVersion}`;
}

export function registerUpcaster(type: DomainEventType, fromVersion: number, upcast: Upcaster): void {
  upcasters.set(key(type, fromVersion), upcast);
}

const entries = new Map<string, CatalogueEntry>();
function register(streamType: StreamType, schemas: Record<string, z.ZodType>, versions: Record<string, number>) {
  for (const [type, schema] of Object.entries(schemas)) {
    entries.set(type, { streamType, schema, version: versions[type] ?? 1 });
  }
}
register("lease", leaseEventSchemas, leaseEventVersions);
for (const [type, byVersion] of Object.entries(leaseEventUpcasters)) {
  for (const [from, upcast] of Object.entries(byVersion)) registerUpcaster(type as DomainEventType, Number(from), upcast);
}
register("resource", resourceEventSchemas, resourceEventVersions);
register("blueprint", blueprintEventSchemas, blueprintEventVersions);
register("token", tokenEventSchemas, tokenEventVersions);
register("authorization", authorizationEventSchemas, authorizationEventVersions);

export class InvalidEventError extends Error {
  constructor(
    readonly eventType: string,
    readonly issues: string,
  ) {
    super(`invalid ${eventType} event: ${issues}`);
  }
}

function entryOf(type: string): CatalogueEntry {
  const entry = entries.get(type);
  if (!entry) throw new InvalidEventError(type, "unknown event type");
  return entry;
}

export function currentVersionOf(type: string): number {
  return entryOf(type).version;
}

export function streamTypeOf(type: string): StreamType {
  return entryOf(type).streamType;
}

function parse(type: string, data: unknown): unknown {
  const result = entryOf(type).schema.safeParse(data);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new InvalidEventError(type, issues);
  }
  return result.data;
}

/** Validates an event before it is appended; returns the data as it will be stored. */
export function validateForAppend(type: string, data: unknown): { data: unknown; version: number } {
  return { data: parse(type, data), version: currentVersionOf(type) };
}

/** Brings a stored event to the current schema version and validates it. */
export function upcastAndValidate(event: RecordedEvent): RecordedEvent {
  const current = currentVersionOf(event.type);
  let data = event.data as Record<string, unknown>;
  for (let v = event.version; v < current; v++) {
    const upcast = upcasters.get(key(event.type, v));
    if (!upcast) throw new InvalidEventError(event.type, `no upcaster from version ${v}`);
    data = upcast(data);
  }
  return { ...event, version: current, data: parse(event.type, data) };
}

export function isDomainEvent(event: RecordedEvent): event is RecordedEvent & DomainEvent {
  return entries.has(event.type);
}
