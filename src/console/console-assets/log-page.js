// The log: events filtered by type, stream and actor, newest first, over a window of time that
// ends now or at a chosen moment; and the pool (leases, resources) as it stood at that moment,
// folded from the log by the API (`asOf`). Without a moment it follows the event stream.
import { get, query, serverNow } from "./api.js";
import { byId, fillTable, flashError, json, row, status } from "./dom.js";
import { leaseLink, resourceLink, blueprintLink, streamLink, time } from "./format.js";
import { follow } from "./live.js";

const PAGE = 1000;
const MAX_PAGES = 20;
const SHOWN = 500;

/** The events of the window, oldest first, keeping the newest SHOWN of them. */
async function events(filters) {
  let kept = [];
  let after = "0";
  let more = false;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await get("/v1/events" + query({ ...filters, after, limit: PAGE }));
    kept = kept.concat(page.items).slice(-SHOWN);
    after = page.nextCursor;
    more = page.items.length === PAGE;
    if (!more) break;
  }
  return { items: kept, truncated: more || kept.length === SHOWN };
}

/** datetime-local holds the browser's local time, without a zone. */
function asOfOf(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

export async function show() {
  const form = byId("log-filter");
  const field = (name) => form.elements.namedItem(name);

  const load = async () => {
    try {
      const asOf = asOfOf(field("asOf").value);
      const end = asOf ? new Date(asOf) : serverNow();
      const since = new Date(end.getTime() - Number(field("window").value)).toISOString();
      const filters = { type: field("type").value.trim(), stream: field("stream").value.trim(), actor: field("actor").value.trim(), since, until: asOf };
      const [log, leases, resources] = await Promise.all([
        events(filters),
        get("/v1/leases" + query({ asOf, limit: 200 })),
        get("/v1/resources" + query({ asOf, limit: 200 })),
      ]);
      byId("pool-heading").textContent = asOf ? `The pool as of ${asOf}` : "The pool now";
      byId("as-of-note").textContent = asOf ? "Folded from the log as it stood at that moment: nothing later counts." : "";
      fillTable(
        "pool-leases",
        leases.items.map((l) => row({ "data-id": l.id }, leaseLink(l.id), status(l.status), l.owner, resourceLink(l.resourceId))),
      );
      fillTable(
        "pool-resources",
        resources.items.map((r) => row({ "data-id": r.id }, resourceLink(r.id), status(r.status), blueprintLink(r.blueprintId), `${r.liveLeases} / ${r.leaseSlots}`)),
      );
      byId("log-note").textContent = `From ${since} to ${asOf ?? "now"}, newest first${log.truncated ? ` (the latest ${SHOWN})` : ""}.`;
      fillTable(
        "log",
        log.items
          .slice()
          .reverse()
          .map((e) => row({ "data-type": e.type }, String(e.globalPosition), e.type, streamLink(e.streamId), time(e.recordedAt), e.metadata.actor, json(e.data))),
      );
    } catch (error) {
      flashError(error);
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  form.addEventListener("change", (event) => {
    if (event.target.type !== "text") load();
  });
  byId("now").addEventListener("click", () => {
    field("asOf").value = "";
    load();
  });

  await load();
  // Only while it shows the present: a moment in the past does not change.
  follow(() => !field("asOf").value, load, { debounceMs: 1000 });
}
