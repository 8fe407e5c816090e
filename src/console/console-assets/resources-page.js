// Resources grouped by the blueprint that built them, with their lease slots in use, kept current
// from the event stream.
import { get, query } from "./api.js";
import { byId, flashError, h, row, status } from "./dom.js";
import { blueprintLink, failingStepText, resourceLink, time } from "./format.js";
import { follow } from "./live.js";

// Released ones too: a released resource whose teardown keeps failing lingers, and says why.
const LIVE = "pending,active,released,broken";
const MAX_PAGES = 10;

/** Every page of a list (up to MAX_PAGES of 200). */
export async function all(path, params) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await get(path + query({ ...params, limit: 200, cursor }));
    items.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return items;
}

/** Where a resource is, in a few words: a pool host's name and address, or the local machine's name. */
function place(resource) {
  const attributes = resource.attributes ?? {};
  const host = attributes.host;
  if (host && typeof host === "object") return [host.name ?? "", host.address ? ` (${host.address})` : ""].join("");
  if (typeof host === "string") return host;
  if (typeof attributes.hostname === "string") return attributes.hostname;
  return resource.resourceType;
}

function section(blueprint, blueprintId, resources) {
  const slots = resources.filter((r) => r.status === "active").reduce((n, r) => n + r.leaseSlots, 0);
  const used = resources.reduce((n, r) => n + r.liveLeases, 0);
  const limit = blueprint && blueprint.resourceLimit !== null ? ` · limit ${blueprint.resourceLimit} resources` : "";
  return h(
    "section",
    { class: "blueprint", "data-blueprint": blueprintId },
    h("h2", {}, blueprintLink(blueprintId, blueprint ? blueprint.name : blueprintId), blueprint ? h("span", { class: "kind" }, ` ${blueprint.kind}`) : ""),
    h("p", { class: "summary" }, `${resources.length} resource${resources.length === 1 ? "" : "s"} · ${used} of ${slots} lease slots in use${limit}`, blueprint && !blueprint.enabled ? " · disabled" : ""),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ["Resource", "Status", "Where", "Leases", "Problem", "Since"].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        resources.map((r) =>
          row(
            { "data-id": r.id },
            resourceLink(r.id),
            status(r.status),
            place(r),
            h("span", { class: "slots" }, `${r.liveLeases} / ${r.leaseSlots}`),
            r.hold ? `on hold: ${r.hold.reason}` : r.failingStep ? failingStepText(r.failingStep) : (r.suspectReason ?? r.endReason ?? ""),
            time(r.activatedAt ?? r.allocatedAt),
          ),
        ),
      ),
    ),
  );
}

export async function show() {
  const form = byId("resource-filter");

  const load = async () => {
    try {
      const ended = new FormData(form).get("ended") === "on";
      const [blueprints, resources] = await Promise.all([all("/v1/blueprints", {}), all("/v1/resources", ended ? {} : { status: LIVE })]);
      const byBlueprint = new Map(blueprints.map((b) => [b.id, []]));
      for (const r of resources) {
        if (!byBlueprint.has(r.blueprintId)) byBlueprint.set(r.blueprintId, []);
        byBlueprint.get(r.blueprintId).push(r);
      }
      const names = new Map(blueprints.map((b) => [b.id, b]));
      byId("by-blueprint").replaceChildren(...[...byBlueprint].map(([id, list]) => section(names.get(id), id, list)));
      byId("by-blueprint-empty").hidden = byBlueprint.size > 0;
    } catch (error) {
      flashError(error);
    }
  };

  form.addEventListener("change", load);
  await load();
  follow((event) => /^(lease|resource|blueprint)-/.test(event.streamId), load);
}
