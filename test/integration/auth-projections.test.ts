import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inlineProjections } from "../../projections/index";
import { ensureAdminToken } from "../../src/auth/admin-token-bootstrap";
import { approveAuthorization, declineAuthorization, requestAuthorization, revokeAuthorization } from "../../src/auth/authorization-commands";
import { issueToken, revokeToken } from "../../src/auth/token-commands";
import { principalOfToken } from "../../src/auth/token-queries";
import { hashToken } from "../../src/auth/token-secret";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { dumpProjections, rebuildProjections } from "../../src/store/rebuild-projections";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/** Tokens and authorizations as projections of their streams, and the first admin token. */
let database: TestDatabase;
let drydock: Drydock;
let root: string;
const admin = { actor: "admin" };

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-auth-"));
  drydock = await createDrydock({ database, localHost: { root, slots: 2 } });
});
afterAll(async () => {
  await drydock.close();
  await database.close();
  await rm(root, { recursive: true, force: true });
});

describe("the first admin token", () => {
  it("is issued once when none exists, written 0600 to <home>/admin.token, and is never written again while one is active", async () => {
    const home = path.join(root, "home");
    const first = await ensureAdminToken(drydock.commands, home);
    expect(first).not.toBeNull();
    expect(first!.file).toBe(path.join(home, "admin.token"));
    expect(await readFile(first!.file, "utf8")).toBe(`${first!.token}\n`);
    expect((await stat(first!.file)).mode & 0o777).toBe(0o600);
    const principal = await principalOfToken(drydock.database.db, first!.token, new Date());
    expect(principal).toMatchObject({ owner: "admin", role: "admin" });
    const issued = (await drydock.store.readStream(`token-${principal!.tokenId}`))[0]!;
    expect(issued.metadata.actor).toBe("system");
    expect(issued.data).toEqual({ tokenId: principal!.tokenId, owner: "admin", role: "admin", hash: hashToken(first!.token) });

    expect(await ensureAdminToken(drydock.commands, home)).toBeNull();
    // Every admin token revoked: the next start issues a new one (the way back in for the operator).
    await revokeToken(drydock.commands, principal!.tokenId, "rotated", admin);
    const second = await ensureAdminToken(drydock.commands, home);
    expect(second!.token).not.toBe(first!.token);
    expect(await readFile(first!.file, "utf8")).toBe(`${second!.token}\n`);
    expect((await stat(first!.file)).mode & 0o777).toBe(0o600);
    expect(await principalOfToken(drydock.database.db, first!.token, new Date())).toBeNull();
  });
});

describe("token and authorization projections", () => {
  it("rebuilt from the log are identical to the live tables", async () => {
    const ci = await issueToken(drydock.commands, { owner: "ci", role: "client" }, admin);
    const ops = await issueToken(drydock.commands, { owner: "ops", role: "admin" }, admin);
    await revokeToken(drydock.commands, ops.tokenId, null, admin);
    const localHost = (await drydock.database.db.selectFrom("blueprints").select("blueprint_id").executeTakeFirstOrThrow()).blueprint_id;
    const asked = await requestAuthorization(drydock.commands, localHost, "ci", { actor: "ci", tokenId: ci.tokenId });
    await declineAuthorization(drydock.commands, asked.authorizationId, "not yet", admin);
    await approveAuthorization(drydock.commands, asked.authorizationId, admin);
    const other = await requestAuthorization(drydock.commands, localHost, "qa", admin);
    const lease = await requestLease(drydock.commands, { resourceType: "host" }, "ci", { actor: "ci" }, { authorizingObject: "ci" });
    await waitForLeaseStatus(drydock, lease, ["active"]);
    await revokeAuthorization(drydock.commands, asked.authorizationId, { reason: "done", releaseLeases: true }, admin);
    await waitForLeaseStatus(drydock, lease, ["destroyed"]);
    // Ended by the revocation: there is nothing left to release.
    await expect(releaseLease(drydock.commands, lease, admin)).rejects.toMatchObject({ code: "transition_refused" });

    await drydock.worker.stop();
    const live = await dumpProjections(drydock.database.db);
    expect(live.tokens.map((t) => [t.owner, t.role, t.status])).toEqual(
      expect.arrayContaining([
        ["ci", "client", "active"],
        ["ops", "admin", "revoked"],
      ]),
    );
    expect(live.authorizations.map((a) => [a.authorization_id, a.client, a.state, a.requested_by, a.decided_by])).toEqual(
      expect.arrayContaining([
        [asked.authorizationId, "ci", "revoked", "ci", "admin"],
        [other.authorizationId, "qa", "requested", "admin", null],
      ]),
    );
    await rebuildProjections(drydock.database.db, inlineProjections, { batchSize: 5 });
    expect(await dumpProjections(drydock.database.db)).toEqual(live);
    await drydock.worker.start();
  });
});
