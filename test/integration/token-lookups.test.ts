import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenLookups } from "../../src/auth/token-lookups";
import { startApi, type ApiHarness } from "../e2e/api-harness";
import { testDialect } from "../support/test-database";

/**
 * Requests that arrive while a token lookup is on its way share one token statement, and each still
 * gets exactly what its own lookup would have: a working token's principal, nothing for a revoked, expired or unknown
 * one, and who owns the lease it is on. Every token is read at its own request's time.
 */
let api: ApiHarness;
let counting = false;
const statements: string[] = [];

beforeAll(async () => {
  api = await startApi({}, {}, { onQuery: (text) => counting && statements.push(text) });
});
afterAll(async () => {
  await api?.close();
});

async function issue(owner: string, role: "admin" | "client", extra: Record<string, unknown> = {}) {
  const issued = await api.call("POST", "/v1/tokens", { owner, role, ...extra });
  expect(issued.status, issued.text).toBe(201);
  return issued.body as { id: string; token: string };
}

describe(`token lookups (${testDialect})`, () => {
  it("answers lookups that arrive together from one statement, each as its own lookup would", async () => {
    const client = await api.client("batch-client");
    const other = await issue("batch-other", "client");
    const revoked = await issue("batch-revoked", "client");
    expect((await api.call("DELETE", `/v1/tokens/${revoked.id}`)).status).toBe(200);
    const expiring = await issue("batch-expiring", "client", { expiresInSeconds: 60 });
    const lease = await api.as(client.token).call("POST", "/v1/leases?wait=20", { resourceType: "host" });
    expect(lease.body.status, lease.text).toBe("active");

    const lookups = new TokenLookups(api.database.db);
    const now = new Date();
    const later = new Date(now.getTime() + 120_000);
    statements.length = 0;
    counting = true;
    const found = await Promise.all([
      lookups.lookup(client.token, now, null),
      lookups.lookup(client.token, now, lease.body.id),
      lookups.lookup(other.token, now, lease.body.id),
      lookups.lookup(revoked.token, now, null),
      lookups.lookup(expiring.token, now, null),
      lookups.lookup(expiring.token, later, null),
      lookups.lookup("dd_not-a-token-anyone-issued", now, null),
      lookups.lookup(other.token, now, "ls_00000000000000000000000"),
    ]).finally(() => (counting = false));
    // The worker's own statements may run meanwhile: only those that read tokens count here. The
    // first lookup went at once, alone; the seven that came while it was on its way, in one. They
    // are logged as they complete, and on PostgreSQL (two connections) either may complete first.
    const readsTokens = (text: string) => /from "tokens"|join tokens/i.test(text);
    const sent = statements.filter(readsTokens);
    expect(sent).toHaveLength(2);
    expect(sent.map((text) => text.includes("unnest")).sort()).toEqual([false, true]);

    const [own, onOwnLease, onOthersLease, wasRevoked, notYetExpired, expired, unknown, onNoLease] = found;
    expect(own).toEqual({ principal: expect.objectContaining({ owner: "batch-client", role: "client" }) });
    expect(own!.lease).toBeUndefined();
    expect(onOwnLease).toEqual({ principal: expect.objectContaining({ owner: "batch-client" }), lease: { owner: "batch-client", authorizingObject: "batch-client" } });
    // Who owns it, for the access check to refuse: the lookup does not decide access.
    expect(onOthersLease).toEqual({ principal: expect.objectContaining({ owner: "batch-other" }), lease: { owner: "batch-client", authorizingObject: "batch-client" } });
    expect(wasRevoked).toBeNull();
    expect(notYetExpired?.principal.owner).toBe("batch-expiring");
    expect(expired).toBeNull();
    expect(unknown).toBeNull();
    expect(onNoLease).toEqual({ principal: expect.objectContaining({ owner: "batch-other" }), lease: null });

    // Alone, a lookup is the one-token statement it always was.
    statements.length = 0;
    counting = true;
    const alone = await lookups.lookup(client.token, now, lease.body.id).finally(() => (counting = false));
    expect(alone).toEqual(onOwnLease);
    expect(statements.filter(readsTokens)).toHaveLength(1);
    expect(statements.filter(readsTokens)[0]).not.toContain("unnest");
  });

  it("refuses a revoked token at the very next request, whoever else asks at the same time", async () => {
    const doomed = await issue("batch-doomed", "client");
    const bystander = await api.client("batch-bystander");
    expect((await api.as(doomed.token).call("GET", "/v1/leases")).status).toBe(200);
    expect((await api.call("DELETE", `/v1/tokens/${doomed.id}`)).status).toBe(200);
    const [refused, served] = await Promise.all([api.as(doomed.token).call("GET", "/v1/leases"), api.as(bystander.token).call("GET", "/v1/leases")]);
    expect(refused.status).toBe(401);
    expect(served.status).toBe(200);
  });
});
