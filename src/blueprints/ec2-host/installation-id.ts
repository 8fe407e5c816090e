import { createHash } from "node:crypto";

/**
 * This installation's id: what tags an instance as launched by this Drydock (and not by another
 * one in the same account). It is derived from the first event of the log, which never changes
 * and is different in every database, so it needs no storage of its own. An `ec2-host`
 * blueprint's creation is an event, so the log is never empty when an instance is launched.
 */
export async function installationIdFromLog(firstEvent: () => Promise<{ eventId: string } | undefined>): Promise<string> {
  const first = await firstEvent();
  if (!first) throw new Error("the event log is empty: no installation id yet");
  return `in-${createHash("sha256").update(first.eventId).digest("hex").slice(0, 20)}`;
}
