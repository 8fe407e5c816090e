// Blueprints: each with its kind, its resource limit and how much of it is in use, what is
// failing, and (for admins) disable or enable. A client sees the blueprints it may use.
import { post } from "./api.js";
import { armed, byId, fillTable, flash, flashError, h, row, run, status } from "./dom.js";
import { blueprintLink } from "./format.js";
import { follow } from "./live.js";
import { all } from "./resources-page.js";
import { isAdmin } from "./session.js";

function toggle(blueprint, reload) {
  if (!isAdmin()) return "";
  const path = `/v1/blueprints/${encodeURIComponent(blueprint.id)}`;
  const button = h("button", { type: "button", class: "toggle" }, blueprint.enabled ? "Disable" : "Enable");
  const action = async () => {
    const changed = await post(`${path}/${blueprint.enabled ? "disable" : "enable"}`, {});
    flash(`${changed.name} is ${changed.enabled ? "enabled" : "disabled"}.`);
    await reload();
  };
  // Disabling stops new resources being built: worth a second click. Enabling is not.
  if (blueprint.enabled) armed(button, "Confirm disable", action);
  else button.addEventListener("click", () => run(button, action));
  return button;
}

export async function show() {
  const load = async () => {
    try {
      const blueprints = await all("/v1/blueprints", {});
      fillTable(
        "blueprints",
        blueprints.map((b) =>
          row(
            { "data-id": b.id },
            blueprintLink(b.id, b.name),
            b.kind,
            b.resourceType,
            status(b.enabled ? "enabled" : "disabled"),
            `${b.liveResources} of ${b.resourceLimit === null ? "no limit" : b.resourceLimit}`,
            b.failingTargets.length === 0 ? "" : b.failingTargets.map((t) => `${t.target}: ${t.message}`).join("; "),
            toggle(b, load),
          ),
        ),
      );
    } catch (error) {
      flashError(error);
    }
  };
  await load();
  follow((event) => /^(blueprint|resource)-/.test(event.streamId), load);
}
