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
}

/** Payloads stay well under NOTIFY's 8000-byte limit. */
const MAX_PAYLOAD = 7000;

export function encodeChangeNotice(streams: readonly string[], workDueAt: number | null): string {
  const payload = `${streams.join(",")}@${workDueAt ?? ""}`;
  return payload.length < MAX_PAYLOAD ? payload : "*";
}

export function decodeChangeNotice(payload: string): ChangeNotice {
  if (payload === "*") return { streams: "*", workDueAt: 0 };
  const at = payload.lastIndexOf("@");
  // A payload without "@" comes from a process that predates the due time: assume work is due.
  if (at < 0) return { streams: payload.split(","), workDueAt: 0 };
  const due = payload.slice(at + 1);
  const streams = payload.slice(0, at);
  return { streams: streams === "" ? [] : streams.split(","), workDueAt: due === "" ? null : Number(due) };
}
