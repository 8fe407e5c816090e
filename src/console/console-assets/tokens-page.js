// Tokens (admin): issue one (its secret is shown this once, in this page only, and is gone when
// the page is left), list them (never their secrets) and revoke one.
import { api, get, post, query } from "./api.js";
import { armed, byId, fillTable, flash, flashError, h, row, run, status } from "./dom.js";
import { time } from "./format.js";

export async function show() {
  const form = byId("token-form");
  const field = (name) => form.elements.namedItem(name);

  const revoke = (token) => {
    const button = h("button", { type: "button", class: "revoke" }, "Revoke");
    armed(button, "Confirm revoke", async () => {
      await api("DELETE", `/v1/tokens/${encodeURIComponent(token.id)}`);
      flash(`${token.id} (${token.owner}) is revoked: refused from its next request on.`);
      await load();
    });
    return button;
  };

  const load = async () => {
    try {
      const page = await get("/v1/tokens" + query({ limit: 200 }));
      fillTable(
        "tokens",
        page.items.map((t) =>
          row(
            { "data-id": t.id, "data-owner": t.owner },
            h("code", {}, t.id),
            t.owner,
            t.role,
            status(t.status),
            t.expiresAt ? time(t.expiresAt) : "never",
            [time(t.issuedAt), ` by ${t.issuedBy}`],
            t.status === "active" ? revoke(t) : "",
          ),
        ),
      );
    } catch (error) {
      flashError(error);
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(form.querySelector("button[type=submit]"), async () => {
      const body = { owner: field("owner").value.trim(), role: field("role").value };
      for (const name of ["expiresInSeconds", "defaultLeaseTtlSeconds"]) if (field(name).value !== "") body[name] = Number(field(name).value);
      const issued = await post("/v1/tokens", body);
      byId("issued-owner").textContent = `${issued.owner} (${issued.role})`;
      byId("issued-token").textContent = issued.token;
      byId("issued").hidden = false;
      form.reset();
      await load();
    });
  });
  byId("issued-hide").addEventListener("click", () => {
    byId("issued-token").textContent = "";
    byId("issued").hidden = true;
  });

  await load();
}
