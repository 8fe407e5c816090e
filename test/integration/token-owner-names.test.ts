import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inlineProjections } from "../../projections/index";
import { streamIdOf } from "../../events/envelope";
import { ensureAdminToken } from "../../src/auth/admin-token-bootstrap";
import { issueToken } from "../../src/auth/token-commands";
import { principalOfToken } from "../../src/auth/token-queries";
import { generateToken, hashToken } from "../../src/auth/token-secret";
import { dumpProjections, rebuildProjections } from "../../src/store/rebuild-projections";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * An owner name belongs to one role, a rule on new tokens only: the first admin token takes
 * another name when clients hold `admin`, and a log that holds both roles under one name (from
 * before the rule) still rebuilds as it is.
 */
let database: TestDatabase;
let drydock: Drydock;
let root: string;

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-owners-"));
  drydock = await createDrydock({ database, localHost: { root, slots: 1 } });
});
afterAll(async () => {
  await drydock.close();
  await database.close();
  await rm(root, { recursive: true, force: true });
});

describe("owner names and roles", () => {
  it("the first admin token is issued as admin-2 when a client holds the name admin; the client stays a client", async () => {
    const client = await issueToken(drydock.commands, { owner: "admin", role: "client" }, { actor: "system" });
    const created = await ensureAdminToken(drydock.commands, path.join(root, "home"));
    expect(created).toMatchObject({ owner: "admin-2" });
    expect(await readFile(created!.file, "utf8")).toBe(`${created!.token}\n`);
    expect(await principalOfToken(drydock.database.db, created!.token, new Date())).toMatchObject({ owner: "admin-2", role: "admin" });
    expect(await principalOfToken(drydock.database.db, client.token, new Date())).toMatchObject({ owner: "admin", role: "client" });
  });

  it("a log with both roles under one name (appended before the rule) rebuilds to the same tables", async () => {
    for (const role of ["admin", "client"] as const) {
      const tokenId = drydock.commands.ids.next("token");
      await drydock.store.append(streamIdOf("token", tokenId), 0, [{ type: "TokenIssued", data: { tokenId, owner: "legacy", role, hash: hashToken(generateToken()) } }], { actor: "admin" });
    }
    const before = await dumpProjections(drydock.database.db);
    expect(before.tokens.filter((t) => t.owner === "legacy").map((t) => t.role).sort()).toEqual(["admin", "client"]);
    await rebuildProjections(drydock.database.db, inlineProjections);
    expect(await dumpProjections(drydock.database.db)).toEqual(before);
    // New tokens under that name are refused for either role.
    for (const role of ["admin", "client"] as const) {
      await expect(issueToken(drydock.commands, { owner: "legacy", role }, { actor: "admin" })).rejects.toMatchObject({ code: "name_taken", details: { field: "owner" } });
    }
  });
});
