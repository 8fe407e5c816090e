// How times, durations and ids read on the page.
import { link } from "./dom.js";

/** "2026-01-01 12:00:03" in UTC, the log's own clock; the title holds the full ISO time. */
export function time(iso) {
  if (!iso) return "–";
  const span = document.createElement("time");
  span.dateTime = iso;
  span.title = iso;
  span.textContent = iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
  return span;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

const enc = encodeURIComponent;
export const leaseLink = (id) => (id ? link(`/console/leases/${enc(id)}`, id) : "–");
export const resourceLink = (id) => (id ? link(`/console/resources/${enc(id)}`, id) : "–");
export const blueprintLink = (id, name) => (id ? link(`/console/blueprints/${enc(id)}`, name || id) : "–");

/** A stream id ("lease-ls_…") as a link to its page. */
export function streamLink(streamId) {
  const [kind, id] = [streamId.slice(0, streamId.indexOf("-")), streamId.slice(streamId.indexOf("-") + 1)];
  if (kind === "lease") return leaseLink(id);
  if (kind === "resource") return resourceLink(id);
  if (kind === "blueprint") return blueprintLink(id);
  return streamId;
}

/** A resource's failing step (GET /v1/resources/{id} `failingStep`): "teardown failed 3 times: <error>". */
export function failingStepText(failing) {
  const step = failing.step === "destroy" ? "teardown" : failing.step;
  return `${step} failed ${failing.failures} time${failing.failures === 1 ? "" : "s"}: ${failing.lastError}`;
}
