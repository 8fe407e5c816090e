// A lease: its facts, why it waited (explain: the wait split by cause, every allocation attempt
// with the candidates it looked at and why each was skipped), its events, release and renew.
import { get, post } from "./api.js";
import { armed, byId, facts, fillTable, flash, flashError, h, json, row, run, status, usable } from "./dom.js";
import { blueprintLink, duration, resourceLink, time } from "./format.js";
import { follow } from "./live.js";

const LIVE = new Set(["pending", "acquired", "active"]);

function candidates(list) {
  if (!list || list.length === 0) return "";
  return h(
    "ul",
    { class: "candidates" },
    list.map((c) =>
      h("li", { class: c.outcome }, h("span", { class: "outcome" }, c.outcome), " ", c.kind, " ", h("code", {}, c.id), c.blueprintId ? ` (${c.blueprintId})` : "", ": ", c.reason),
    ),
  );
}

export function eventRows(events) {
  return events.map((e) => row({ "data-type": e.type }, String(e.streamVersion), e.type, time(e.recordedAt), e.metadata.actor, json(e.data)));
}

export async function show(id) {
  const path = `/v1/leases/${encodeURIComponent(id)}`;

  const load = async () => {
    try {
      const [lease, explanation, events] = await Promise.all([get(path), get(`${path}/explain`), get(`${path}/events`)]);
      byId("lease-status").replaceChildren(status(lease.status));
      facts("lease-facts", [
        ["Type", lease.resourceType],
        ["Owner", lease.owner],
        ["Resource", resourceLink(lease.resourceId)],
        ["Blueprint", blueprintLink(lease.blueprintId)],
        ["Attributes", Object.keys(lease.attributes).length ? json(lease.attributes) : "none"],
        ["Requested", time(lease.requestedAt)],
        ["Active since", time(lease.activatedAt)],
        ["Expires", lease.expiresAt ? [time(lease.expiresAt), ` (TTL ${lease.ttlSeconds} s, from the ${lease.ttlSource})`] : "never"],
        ["Waiting because", lease.waitReason],
        ["Ended", lease.endedAt ? [time(lease.endedAt), lease.endReason ? `: ${lease.endReason}` : ""] : null],
      ]);
      usable(byId("release"), LIVE.has(lease.status));
      usable(byId("renew"), lease.status === "active" || lease.status === "acquired");

      byId("explain-summary").textContent = explanation.summary;
      fillTable(
        "waits",
        explanation.waits.map((w) => row({ "data-cause": w.cause }, w.cause, duration(w.ms), w.detail ?? "")),
      );
      fillTable(
        "timeline",
        explanation.timeline.map((step) =>
          row({ "data-event": step.event }, time(step.at), duration(step.durationMs), step.event, status(step.leaseStatus), step.title, candidates(step.candidates)),
        ),
      );
      fillTable("events", eventRows(events.items));
      return true;
    } catch (error) {
      flashError(error);
      return false;
    }
  };

  armed(byId("release"), "Confirm release", async () => {
    const lease = await post(`${path}/release`, {});
    flash(`${id} is ${lease.status}.`);
    await load();
  });
  byId("renew").addEventListener("click", (event) =>
    run(event.currentTarget, async () => {
      const ttlSeconds = Number(byId("renew-ttl").value);
      const lease = await post(`${path}/renew`, { ttlSeconds });
      flash(`${id} now expires at ${lease.expiresAt}.`);
      await load();
    }),
  );

  // Nothing to follow on a page whose lease or resource this token cannot read (or that does not exist).
  if (await load()) follow((event) => event.streamId === `lease-${id}`, load);
}
