import { z } from "zod";

/** Who did it and why: carried on every event, never secrets. */
export const eventMetadataSchema = z.object({
  actor: z.string().min(1),
  /** The bearer token the request came with (its id, never the secret): which of an owner's tokens acted. */
  tokenId: z.string().optional(),
  requestId: z.string().optional(),
  correlationId: z.string().optional(),
  causationId: z.string().optional(),
});
export type EventMetadata = z.infer<typeof eventMetadataSchema>;

/** What a command hands to the store. The store stamps position, version, xid and time. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
  /**
   * Who caused this event, when not the append's caller: a client's request appended in one
   * transaction with the allocator's decision on it (the fast path) keeps the client as its actor.
   */
  metadata?: EventMetadata;
}

/** An event as stored in the log. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  globalPosition: number;
  /** The xid8 of the transaction that appended it, as a decimal string. */
  transactionId: string;
  eventId: string;
  streamId: string;
  streamVersion: number;
  type: Type;
  /** Schema version of `data` as stored; reads upcast it to the current version. */
  version: number;
  data: Data;
  metadata: EventMetadata;
  recordedAt: Date;
}

export type StreamType = "lease" | "resource" | "blueprint" | "token" | "authorization";

const streamTypes: ReadonlySet<string> = new Set<StreamType>(["lease", "resource", "blueprint", "token", "authorization"]);

export function streamIdOf(type: StreamType, id: string): string {
  return `${type}-${id}`;
}

export function parseStreamId(streamId: string): { type: StreamType; id: string } {
  const dash = streamId.indexOf("-");
  const type = streamId.slice(0, dash);
  if (!streamTypes.has(type)) throw new Error(`unknown stream type in ${streamId}`);
  return { type: type as StreamType, id: streamId.slice(dash + 1) };
}
