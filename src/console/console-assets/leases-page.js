// Leases: newest first, filtered by status, type and owner, a page at a time, kept current from
// the event stream.
import { get, query } from "./api.js";
import { byId, fillTable, flashError, h, row, status } from "./dom.js";
import { leaseLink, resourceLink, time } from "./format.js";
import { follow } from "./live.js";

const PAGE_SIZE = 25;

export async function show() {
  const form = byId("lease-filter");
  // The cursors of the pages before this one, to go back; null: the first page.
  const previous = [];
  let cursor = null;
  let next = null;

  const filter = () => {
    const data = new FormData(form);
    return {
      status: data.getAll("status").join(","),
      resourceType: data.get("resourceType").trim(),
      owner: (data.get("owner") ?? "").trim(),
    };
  };

  const load = async () => {
    try {
      const page = await get("/v1/leases" + query({ ...filter(), limit: PAGE_SIZE, cursor }));
      next = page.nextCursor;
      fillTable(
        "leases",
        page.items.map((lease) =>
          row(
            { "data-id": lease.id },
            leaseLink(lease.id),
            status(lease.status),
            lease.resourceType,
            resourceLink(lease.resourceId),
            lease.owner,
            time(lease.requestedAt),
            time(lease.expiresAt),
            lease.waitReason ? h("span", { class: "reason" }, lease.waitReason) : "",
          ),
        ),
      );
      byId("older").disabled = !next;
      byId("newer").disabled = previous.length === 0;
    } catch (error) {
      flashError(error);
    }
  };

  const restart = () => {
    previous.length = 0;
    cursor = null;
    load();
  };
  form.addEventListener("change", restart);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    restart();
  });
  byId("older").addEventListener("click", () => {
    if (!next) return;
    previous.push(cursor);
    cursor = next;
    load();
  });
  byId("newer").addEventListener("click", () => {
    if (previous.length === 0) return;
    cursor = previous.pop();
    load();
  });

  await load();
  follow((event) => event.streamId.startsWith("lease-"), load);
}
