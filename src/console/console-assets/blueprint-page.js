// Create or edit a blueprint. The config is edited as JSON (for static-hosts, its `hosts` list):
// the API checks it and answers with the field that is wrong, shown as it is.
import { api, get, post } from "./api.js";
import { byId, facts, fillTable, flash, flashError, run, status, usable } from "./dom.js";
import { time } from "./format.js";
import { eventRows } from "./lease-page.js";
import { isAdmin } from "./session.js";

/** What a new blueprint of each kind starts from: an example to edit, not a default. */
const TEMPLATES = {
  "local-host": { root: "/var/tmp/drydock", slots: 8 },
  "static-hosts": {
    root: "/var/tmp/drydock",
    hosts: [
      {
        name: "build-1",
        address: "build-1.example.net",
        user: "drydock",
        privateKey: { env: "BUILD_HOSTS_KEY" },
        hostKeyFingerprint: "SHA256:…",
        slots: 4,
        attributes: { os: "linux", arch: "x64" },
      },
    ],
  },
  "ec2-host": {
    region: "us-east-1",
    imageId: "ami-0123456789abcdef0",
    instanceTypes: ["t3.large"],
    subnetIds: ["subnet-0123456789abcdef0"],
    securityGroupIds: ["sg-0123456789abcdef0"],
    sshUser: "admin",
    slots: 4,
    maxInstances: 5,
  },
};

function parseConfig(text) {
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("a JSON object");
    return value;
  } catch (error) {
    throw new Error(`config: not a JSON object (${error.message})`);
  }
}

export async function show(id) {
  const form = byId("blueprint-form");
  const field = (name) => form.elements.namedItem(name);
  const creating = !id;

  if (creating) {
    const template = () => {
      field("config").value = JSON.stringify(TEMPLATES[field("kind").value] ?? {}, null, 2);
    };
    field("kind").addEventListener("change", template);
    template();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run(form.querySelector("button[type=submit]"), async () => {
        const limit = field("resourceLimit").value;
        const body = { name: field("name").value.trim(), kind: field("kind").value, config: parseConfig(field("config").value) };
        if (limit !== "") body.resourceLimit = Number(limit);
        const created = await post("/v1/blueprints", body);
        location.assign(`/console/blueprints/${encodeURIComponent(created.id)}`);
      });
    });
    return;
  }

  const path = `/v1/blueprints/${encodeURIComponent(id)}`;
  let blueprint = null;

  const load = async () => {
    blueprint = await get(path);
    field("name").value = blueprint.name;
    field("kind").value = blueprint.kind;
    field("resourceLimit").value = blueprint.resourceLimit ?? "";
    field("config").value = JSON.stringify(blueprint.config, null, 2);
    byId("blueprint-status").replaceChildren(status(blueprint.enabled ? "enabled" : "disabled"));
    facts("blueprint-facts", [
      ["Kind", blueprint.kind],
      ["Resource type", blueprint.resourceType],
      ["Resources in use", `${blueprint.liveResources} of ${blueprint.resourceLimit ?? "no limit"}`],
      ["Failing", blueprint.failingTargets.length ? blueprint.failingTargets.map((t) => `${t.target}: ${t.message} (retried at ${t.retryAt})`).join("; ") : "nothing"],
      ["Created", time(blueprint.createdAt)],
      ["Changed", time(blueprint.updatedAt)],
    ]);
    const toggle = byId("toggle-enabled");
    toggle.textContent = blueprint.enabled ? "Disable" : "Enable";
    usable(toggle, isAdmin());
    fillTable("events", eventRows((await get(`${path}/events`)).items));
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(form.querySelector("button[type=submit]"), async () => {
      const limit = field("resourceLimit").value;
      const wanted = { name: field("name").value.trim(), config: parseConfig(field("config").value), resourceLimit: limit === "" ? null : Number(limit) };
      // Only what changed: a PATCH of the config also retries what waits on a failing host.
      const change = Object.fromEntries(Object.entries(wanted).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(blueprint[key])));
      if (Object.keys(change).length === 0) return flash("Nothing to save: it is unchanged.");
      await api("PATCH", path, change);
      flash("Saved: the next allocation uses it.");
      await load();
    });
  });
  byId("toggle-enabled").addEventListener("click", (event) =>
    run(event.currentTarget, async () => {
      const changed = await post(`${path}/${blueprint.enabled ? "disable" : "enable"}`, {});
      flash(`${changed.name} is ${changed.enabled ? "enabled" : "disabled"}.`);
      await load();
    }),
  );

  // A client may read the blueprints it uses; changing them is for admins (the API refuses it anyway).
  if (!isAdmin()) for (const element of form.elements) element.disabled = true;
  try {
    await load();
  } catch (error) {
    flashError(error);
  }
}
