// Authorizations: the requests to use a blueprint, pending first; an admin approves or declines
// them here. A client sees its own.
import { get, post, query } from "./api.js";
import { armed, byId, fillTable, flash, flashError, h, row, run, status } from "./dom.js";
import { blueprintLink, time } from "./format.js";
import { follow } from "./live.js";
import { all } from "./resources-page.js";
import { isAdmin } from "./session.js";

export async function show() {
  const form = byId("authorization-filter");
  let names = new Map();

  const decide = (authorization, verb, reload) => {
    const button = h("button", { type: "button", class: verb }, verb === "approve" ? "Approve" : "Decline");
    const action = async () => {
      const decided = await post(`/v1/authorizations/${encodeURIComponent(authorization.id)}/${verb}`, {});
      flash(`${decided.client} on ${names.get(decided.blueprintId)?.name ?? decided.blueprintId}: ${decided.state}.`);
      await reload();
    };
    if (verb === "decline") armed(button, "Confirm decline", action);
    else button.addEventListener("click", () => run(button, action));
    return button;
  };

  const load = async () => {
    try {
      const state = new FormData(form).get("state");
      const [page, blueprints] = await Promise.all([get("/v1/authorizations" + query({ state, limit: 200 })), all("/v1/blueprints", {})]);
      names = new Map(blueprints.map((b) => [b.id, b]));
      fillTable(
        "authorizations",
        page.items.map((a) =>
          row(
            { "data-id": a.id, "data-client": a.client },
            a.client,
            blueprintLink(a.blueprintId, names.get(a.blueprintId)?.name),
            status(a.state),
            [time(a.requestedAt), ` by ${a.requestedBy}`],
            a.decidedAt ? [time(a.decidedAt), ` by ${a.decidedBy}`] : "–",
            isAdmin() && a.state === "requested" ? [decide(a, "approve", load), " ", decide(a, "decline", load)] : "",
          ),
        ),
      );
    } catch (error) {
      flashError(error);
    }
  };

  form.addEventListener("change", load);
  await load();
  follow((event) => event.streamId.startsWith("authorization-"), load);
}
