// Live updates. An admin's page follows GET /v1/events/stream: EventSource cannot send an
// Authorization header (and the token must never go in a URL), so the stream is read with fetch
// and a reader, and parsed here. Any event the page cares about makes it fetch its data again
// (at most a few times a second): the page always shows what the API says, never a state
// patched together in the browser. A client token may not follow the log (403), so its pages
// poll every few seconds instead.
import { authHeaders, noteResponse, query, serverNow } from "./api.js";
import { byId } from "./dom.js";

const RECONNECT_MS = 2000;
const POLL_MS = 3000;
/** How long a page lets events gather before it fetches again (the log page waits longer: it reads more). */
const DEBOUNCE_MS = 150;

/**
 * Calls `refresh` after events for which `wanted(event)` says yes. Starts from a few seconds
 * before now on the server's clock (events already shown cost one extra refresh), then resumes
 * exactly after the last cursor seen when the connection drops.
 */
export function follow(wanted, refresh, { debounceMs = DEBOUNCE_MS } = {}) {
  let after = null;
  let pending = null;
  const since = new Date(serverNow().getTime() - 5000).toISOString();
  const indicator = byId("live");

  const show = (state, title) => {
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = state;
    indicator.title = title;
  };

  // One refresh at a time: an older answer arriving after a newer one would otherwise be shown
  // last, and stay until the next event. Events during a refresh make one more afterwards.
  let running = false;
  let again = false;
  const schedule = () => {
    if (pending !== null) return;
    pending = setTimeout(async () => {
      pending = null;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await refresh();
      } finally {
        running = false;
        if (again) {
          again = false;
          schedule();
        }
      }
    }, debounceMs);
  };

  const poll = () => {
    show("polling", `refreshed every ${POLL_MS / 1000} s (this token may not follow the event stream)`);
    setInterval(schedule, POLL_MS);
  };

  const handle = (block) => {
    let data = "";
    let type = "message";
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") after = value;
      else if (field === "event") type = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
    }
    if (type === "end") return "end";
    if (data && wanted(JSON.parse(data))) schedule();
    return "go";
  };

  const connect = async () => {
    for (;;) {
      try {
        const url = "/v1/events/stream" + query(after === null ? { since } : { after });
        const res = await fetch(url, { headers: authHeaders({ accept: "text/event-stream" }), cache: "no-store" });
        noteResponse(res);
        if (res.status === 403) return poll();
        if (!res.ok || !res.body) throw new Error(`event stream: ${res.status}`);
        show("live", "updated from the event stream");
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        let ended = false;
        while (!ended) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while (!ended && (end = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
            // The server ends the stream when the token stops working: reconnecting gets the 401.
            ended = handle(block) === "end";
          }
        }
        if (ended) reader.cancel().catch(() => {});
      } catch (error) {
        if (error && error.status === 401) return;
      }
      show("reconnecting", "the event stream dropped; reconnecting");
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  };
  connect();
}
