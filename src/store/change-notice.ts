/**
 * The payload of the NOTIFY sent after each commit: the streams it touched, for watchers (waiting
 * requests, event streams), and the earliest time a work item it scheduled falls due, for workers.
 *
 *   lease-a,resource-b@1764614400000   work falls due then (now or later)
 *   lease-a@                           nothing for a worker: no unclaimed work was scheduled
 *   *                                  too many streams to name: everyone looks
 *
 * A worker wakes and claims only for work due now, and otherwise just moves its timer earlier;
 * an append whose work is claimed by the process that will run it (the fast path) or that
 * scheduled nothing costs workers no statement at all.
 */
export interface ChangeNotice {
  /** The streams, or "*" for all. */
  streams: readonly string[] | "*";
  /** The earliest due time of unclaimed work scheduled by the commit, in ms; null: none. */
  workDueAt: number | null;
  /**
   * The Drydock instance that sent it, when it said (change-feed.ts): that instance heard its own
   * appends already, and drops the NOTIFY. It rides as a last pseudo-stream `~origin`, which a
   * process that predates it reads as a stream nobody watches.
   */
  origin?: string;
}

/** Marks the pseudo-stream that names a notice's origin; no stream id starts with it. */
const ORIGIN_MARK = "~";

/** Payloads stay well under NOTIFY's 8000-byte limit. */
const MAX_PAYLOAD = 7000;

export function encodeChangeNotice(streams: readonly string[], workDueAt: number | null, origin?: string): string {
  const named = origin === undefined ? streams : [...streams, ORIGIN_MARK + origin];
  const payload = `${named.join(",")}@${workDueAt ?? ""}`;
  return payload.length < MAX_PAYLOAD ? payload : "*";
}

export function decodeChangeNotice(payload: string): ChangeNotice {
  if (payload === "*") return { streams: "*", workDueAt: 0 };
  const at = payload.lastIndexOf("@");
  // A payload without "@" comes from a process that predates the due time: assume work is due.
  if (at < 0) return { streams: payload.split(","), workDueAt: 0 };
  const due = payload.slice(at + 1);
  const named = payload.slice(0, at);
  const streams = named === "" ? [] : named.split(",");
  const workDueAt = due === "" ? null : Number(due);
  const last = streams[streams.length - 1];
  if (last?.startsWith(ORIGIN_MARK)) return { streams: streams.slice(0, -1), workDueAt, origin: last.slice(ORIGIN_MARK.length) };
  return { streams, workDueAt };
}
