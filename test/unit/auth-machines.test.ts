import { describe, expect, it } from "vitest";
import { authorizationEventSchemas } from "../../events/authorization-events";
import { tokenEventSchemas } from "../../events/token-events";
import type { AuthorizationMachineEvent } from "../../src/machines/authorization-machine";
import { authorizationFolder, IllegalTransitionError, tokenFolder } from "../../src/machines/fold";
import type { TokenMachineEvent } from "../../src/machines/token-machine";
import { toRecordedEvents } from "../support/machine-events";

/** The token and authorization lifecycles, cell by cell: every legal transition, every refused one. */

const tokenEvents: TokenMachineEvent[] = [
  { type: "TokenIssued", at: "2024-05-01T10:00:00.000Z", data: { tokenId: "tk_1", owner: "ci", role: "client", hash: `sha256:${"ab".repeat(32)}` } },
  { type: "TokenRevoked", at: "2024-05-01T11:00:00.000Z", data: { reason: "leaked" } },
  { type: "TokenQuotaChanged", at: "2024-05-01T10:30:00.000Z", data: { leaseQuota: { maxLiveLeases: 4 } } },
];

const authorizationEvents: AuthorizationMachineEvent[] = [
  { type: "AuthorizationRequested", at: "2024-05-01T10:00:00.000Z", data: { authorizationId: "au_1", blueprintId: "bp_1", client: "ci" } },
  { type: "AuthorizationApproved", at: "2024-05-01T10:01:00.000Z", data: {} },
  { type: "AuthorizationDeclined", at: "2024-05-01T10:02:00.000Z", data: { reason: "not this one" } },
  { type: "AuthorizationRevoked", at: "2024-05-01T10:03:00.000Z", data: { reason: "rotated", releaseLeases: true } },
];

const byType = <E extends { type: string }>(events: E[]) => (type: string) => events.find((e) => e.type === type)!;
const tok = byType(tokenEvents);
const auth = byType(authorizationEvents);

describe("sample events match the catalogue", () => {
  it.each([...tokenEvents, ...authorizationEvents])("$type", (e) => {
    const schema = { ...tokenEventSchemas, ...authorizationEventSchemas }[e.type as keyof typeof tokenEventSchemas & keyof typeof authorizationEventSchemas] as { parse(x: unknown): unknown };
    expect(() => schema.parse(e.data)).not.toThrow();
  });
});

describe("token machine: active -> revoked, final", () => {
  const fold = (types: string[]) => tokenFolder.fold(toRecordedEvents("token-tk_1", types.map(tok)));
  const table: Record<string, { prefix: string[]; allowed: string[] }> = {
    new: { prefix: [], allowed: ["TokenIssued"] },
    active: { prefix: ["TokenIssued"], allowed: ["TokenRevoked", "TokenQuotaChanged"] },
    revoked: { prefix: ["TokenIssued", "TokenRevoked"], allowed: [] },
  };
  it.each(Object.entries(table))("%s allows exactly %j", (status, { prefix, allowed }) => {
    expect(fold(prefix).state.status).toBe(status);
    for (const e of tokenEvents) {
      if (allowed.includes(e.type)) expect(() => fold([...prefix, e.type])).not.toThrow();
      else expect(() => fold([...prefix, e.type])).toThrow(IllegalTransitionError);
    }
  });
  it("keeps owner, role and hash; records when it was revoked", () => {
    const { state } = fold(["TokenIssued", "TokenRevoked"]);
    expect(state.context).toMatchObject({ tokenId: "tk_1", owner: "ci", role: "client", hash: (tok("TokenIssued").data as { hash: string }).hash, issuedAt: tok("TokenIssued").at, revokedAt: tok("TokenRevoked").at });
  });
});

describe("token quota", () => {
  const fold = (types: string[]) => tokenFolder.fold(toRecordedEvents("token-tk_1", types.map(tok)));
  it("is none at issue without one, and what the last change says", () => {
    expect(fold(["TokenIssued"]).state.context.leaseQuota).toBeNull();
    expect(fold(["TokenIssued", "TokenQuotaChanged"]).state.context.leaseQuota).toEqual({ maxLiveLeases: 4 });
  });
});

describe("authorization machine: requested -> approved | declined; approved -> revoked; declined | revoked -> approved", () => {
  const fold = (types: string[]) => authorizationFolder.fold(toRecordedEvents("authorization-au_1", types.map(auth)));
  const table: Record<string, { prefix: string[]; allowed: string[] }> = {
    new: { prefix: [], allowed: ["AuthorizationRequested"] },
    requested: { prefix: ["AuthorizationRequested"], allowed: ["AuthorizationApproved", "AuthorizationDeclined"] },
    approved: { prefix: ["AuthorizationRequested", "AuthorizationApproved"], allowed: ["AuthorizationRevoked"] },
    declined: { prefix: ["AuthorizationRequested", "AuthorizationDeclined"], allowed: ["AuthorizationApproved"] },
    revoked: { prefix: ["AuthorizationRequested", "AuthorizationApproved", "AuthorizationRevoked"], allowed: ["AuthorizationApproved"] },
  };
  it.each(Object.entries(table))("%s allows exactly %j", (status, { prefix, allowed }) => {
    expect(fold(prefix).state.status).toBe(status);
    for (const e of authorizationEvents) {
      if (allowed.includes(e.type)) expect(() => fold([...prefix, e.type])).not.toThrow();
      else expect(() => fold([...prefix, e.type])).toThrow(IllegalTransitionError);
    }
  });
  it("keeps the pair, and the reason of the last refusal until an approval clears it", () => {
    const revoked = fold(["AuthorizationRequested", "AuthorizationApproved", "AuthorizationRevoked"]).state;
    expect(revoked.context).toMatchObject({ authorizationId: "au_1", blueprintId: "bp_1", client: "ci", reason: "rotated", decidedAt: auth("AuthorizationRevoked").at });
    const again = fold(["AuthorizationRequested", "AuthorizationDeclined", "AuthorizationApproved"]).state;
    expect(again).toMatchObject({ status: "approved", context: { reason: null }, version: 3 });
  });
});
