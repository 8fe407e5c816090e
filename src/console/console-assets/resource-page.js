// A resource: its facts, its leases, its history, and what an admin may do to it: release it,
// and for a host of a static-hosts pool, drain that host (the blueprint's config says
// `"drained": true` for it: it takes no new lease, and is released once its leases end).
import { api, get, post, query } from "./api.js";
import { armed, byId, facts, fillTable, flash, flashError, json, row, status, usable } from "./dom.js";
import { blueprintLink, failingStepText, leaseLink, time } from "./format.js";
import { eventRows } from "./lease-page.js";
import { follow } from "./live.js";
import { isAdmin } from "./session.js";

function hostName(resource) {
  const host = resource.attributes && resource.attributes.host;
  if (host && typeof host === "object") return host.name ?? null;
  return typeof host === "string" ? host : null;
}

export async function show(id) {
  const path = `/v1/resources/${encodeURIComponent(id)}`;
  let resource = null;

  /** The blueprint, when this token may read it (a client may not, for a blueprint it no longer uses). */
  const blueprintOf = (r) => get(`/v1/blueprints/${encodeURIComponent(r.blueprintId)}`).catch(() => null);

  const drainable = async (blueprint) => {
    const name = hostName(resource);
    if (!isAdmin() || !name || !blueprint || resource.status === "destroyed") return null;
    const hosts = blueprint.kind === "static-hosts" && Array.isArray(blueprint.config.hosts) ? blueprint.config.hosts : [];
    const host = hosts.find((h) => h && h.name === name);
    return host && !host.drained ? { blueprint, name } : null;
  };

  const load = async () => {
    try {
      const [r, leases, events] = await Promise.all([get(path), get("/v1/leases" + query({ resourceId: id, limit: 200 })), get(`${path}/events`)]);
      resource = r;
      const blueprint = await blueprintOf(r);
      byId("resource-status").replaceChildren(status(r.status));
      facts("resource-facts", [
        ["Type", r.resourceType],
        ["Blueprint", blueprintLink(r.blueprintId, blueprint && blueprint.name)],
        ["Leases", `${r.liveLeases} live of ${r.leaseSlots} slots`],
        ["Attributes", json(r.attributes)],
        ["Allocated", time(r.allocatedAt)],
        ["Active since", time(r.activatedAt)],
        ["Idle since", time(r.idleSince)],
        ["Suspect", r.suspectReason],
        // A step that keeps failing (its teardown, mostly), retried with a growing wait (src/allocator/worker.ts).
        ["Failing", r.failingStep ? [failingStepText(r.failingStep), " (next try ", time(r.failingStep.nextAttemptAt), ")"] : null],
        // A hold: no new lease, not destroyed, until released or its time (src/domain/resource-hold.ts).
        ["On hold", r.hold ? [r.hold.reason, ` (by ${r.hold.by}, `, r.hold.until ? ["until ", time(r.hold.until)] : "until released", ")"] : null],
        ["Ended", r.endedAt ? [time(r.endedAt), r.endReason ? `: ${r.endReason}` : ""] : null],
      ]);
      fillTable(
        "resource-leases",
        leases.items.map((l) => row({ "data-id": l.id }, leaseLink(l.id), status(l.status), l.owner, time(l.requestedAt), time(l.endedAt))),
      );
      fillTable("events", eventRows(events.items));
      usable(byId("release"), r.status !== "released" && r.status !== "destroyed");
      byId("drain").hidden = !(await drainable(blueprint));
      return true;
    } catch (error) {
      flashError(error);
      return false;
    }
  };

  armed(byId("release"), "Confirm release", async () => {
    const reason = byId("release-reason").value.trim();
    const r = await post(`${path}/release`, reason ? { reason } : {});
    flash(`${id} is ${r.status}.`);
    await load();
  });
  armed(byId("drain"), "Confirm drain", async () => {
    // Read the config again just before changing it: the whole config is sent back.
    const target = await drainable(await blueprintOf(resource));
    if (!target) return load();
    const hosts = target.blueprint.config.hosts.map((h) => (h && h.name === target.name ? { ...h, drained: true } : h));
    await api("PATCH", `/v1/blueprints/${encodeURIComponent(target.blueprint.id)}`, { config: { ...target.blueprint.config, hosts } });
    flash(`${target.name} is drained: it takes no new lease, and is released once its leases end.`);
    await load();
  });

  // Nothing to follow on a page whose lease or resource this token cannot read (or that does not exist).
  if (await load()) follow((event) => event.streamId === `resource-${id}` || event.streamId.startsWith("lease-"), load);
}
