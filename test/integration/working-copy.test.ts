import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveAuthorization, requestAuthorization } from "../../src/auth/authorization-commands";
import { createBlueprint } from "../../src/commands/blueprint-commands";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { UnsatisfiableError } from "../../src/domain/errors";
import { getResource } from "../../src/queries/resource-queries";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createGitRepos, git, type GitRepos } from "../support/git-repos";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";
import { watchUntil } from "../support/wait-until";
import { readWholeFile } from "../support/read-whole-file";

/**
 * The `working-copy` blueprint with real git on the local host (its lease sandbox): copies of a
 * `file://` repository, cleaned between leases, reused, merged on, and destroyed when they cannot
 * be cleaned.
 */
let database: TestDatabase;
let drydock: Drydock;
let root: string;
let repos: GitRepos;
let copies: string;
const actor = { actor: "wc-test" };
const shas: Record<string, string> = {};
const unexpected: unknown[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-wc-"));
  repos = await createGitRepos();
  await repos.create("app", { "README.md": "app\n", "src/main.txt": "one\n", ".gitignore": "build/\n" });
  shas.first = await git(path.join(repos.root, "app"), "rev-parse", "HEAD");
  shas.second = await repos.commit("app", "main", { "src/main.txt": "two\n" });
  shas.feature = await repos.commit("app", "feature", { "feature.txt": "feature\n" }, shas.first);
  shas.conflicting = await repos.commit("app", "conflicting", { "src/main.txt": "three\n", "feature.txt": "other\n" }, shas.first);
  drydock = await createDrydock({ database, localHost: false, onWorkerError: (error) => unexpected.push(error) });
  // The hosts working copies use: the local host, its sandbox sharing the network (for git servers).
  const hosts = await createBlueprint(drydock.commands, { name: "git-hosts", kind: "local-host", config: { root, slots: 4, sandbox: { network: true } } }, actor);
  copies = await createBlueprint(drydock.commands, { name: "copies", kind: "working-copy", config: { hostBlueprintIds: [hosts], fileRepositoryRoots: [repos.root] } }, actor);
  // The copies' host leases are the working-copy blueprint's doing: it is authorized on the hosts.
  const { authorizationId } = await requestAuthorization(drydock.commands, hosts, `blueprint:${copies}`, actor);
  await approveAuthorization(drydock.commands, authorizationId, actor);
});

afterAll(async () => {
  await drydock?.close();
  await database?.close();
  await repos?.close();
  await rm(root, { recursive: true, force: true });
});

const lease = (attributes: Record<string, unknown>) => requestLease(drydock.commands, { resourceType: "working-copy", attributes }, "ci", actor);

async function run(leaseId: string, argv: string[]) {
  const { command } = await drydock.interfaces.forLease(leaseId);
  const result = await command.exec(argv, { timeoutMs: 30_000 });
  expect(result.exitCode, `${argv.join(" ")}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

async function done(leaseId: string) {
  await releaseLease(drydock.commands, leaseId, actor);
  await waitForLeaseStatus(drydock, leaseId, ["destroyed"]);
}

// Real clones on two shared cores: a case may take longer than the default minute.
describe("working copies on the local host", { timeout: 180_000 }, () => {
  it("checks out the exact commit, cleans between leases, and reuses the copy", async () => {
    const first = await lease({ repositoryURL: repos.fileUrl("app"), ref: "main" });
    const active = await waitForLeaseStatus(drydock, first, ["active"], 60_000);
    expect(await run(first, ["git", "rev-parse", "HEAD"])).toBe(`${shas.second}\n`);
    expect(await run(first, ["cat", "src/main.txt"])).toBe("two\n");
    // git ran in the host lease's sandbox, as its unprivileged user when the service is root.
    if (process.getuid?.() === 0) expect(await run(first, ["id", "-un"])).toBe("drydock-lease\n");
    // The lease's root is the checkout; its files API too.
    const { filesystem } = await drydock.interfaces.forLease(first);
    expect(new TextDecoder().decode(await readWholeFile(filesystem, "README.md"))).toBe("app\n");
    const activated = (await drydock.store.readStream(`lease-${first}`)).find((e) => e.type === "LeaseActivated");
    expect((activated?.data as { workingDirectory: string }).workingDirectory).toMatch(/\/leases\/ls_\w+\/repo$/);
    // Leave a mess: a changed file, an untracked one, an ignored one.
    await filesystem.writeFile("src/main.txt", new TextEncoder().encode("changed\n"));
    await filesystem.writeFile("junk.txt", new TextEncoder().encode("junk\n"));
    await filesystem.writeFile("build/out.o", new TextEncoder().encode("obj\n"));
    await done(first);

    const second = await lease({ repositoryURL: repos.fileUrl("app"), commit: shas.first });
    const again = await waitForLeaseStatus(drydock, second, ["active"], 60_000);
    expect(again.resourceId).toBe(active.resourceId);
    expect(await run(second, ["git", "rev-parse", "HEAD"])).toBe(`${shas.first}\n`);
    expect(await run(second, ["git", "status", "--porcelain", "--ignored"])).toBe("");
    expect(await run(second, ["cat", "src/main.txt"])).toBe("one\n");
    // Paths outside the checkout are refused.
    const { filesystem: fs2 } = await drydock.interfaces.forLease(second);
    await expect(readWholeFile(fs2, "../.bashrc")).rejects.toThrow(/\.\./);
    await done(second);
    const copies = await drydock.database.db.selectFrom("resources").select("resource_id").where("resource_type", "=", "working-copy").execute();
    expect(copies).toHaveLength(1);
  });

  it("merges on top, and a conflict breaks the lease naming the paths", async () => {
    const merged = await lease({ repositoryURL: repos.fileUrl("app"), ref: "main", merges: ["feature"] });
    await waitForLeaseStatus(drydock, merged, ["active"], 60_000);
    expect(await run(merged, ["git", "rev-parse", "HEAD^1", "HEAD^2"])).toBe(`${shas.second}\n${shas.feature}\n`);
    expect(await run(merged, ["cat", "feature.txt", "src/main.txt"])).toBe("feature\ntwo\n");
    await done(merged);

    const conflict = await lease({ repositoryURL: repos.fileUrl("app"), ref: "main", merges: [{ ref: "feature" }, { commit: shas.conflicting }] });
    const broken = await waitForLeaseStatus(drydock, conflict, ["broken", "destroyed"], 60_000);
    expect(broken.endReason).toMatch(/merge of [0-9a-f]{12} of file:\/\/.* conflicts in /);
    expect(broken.endReason).toContain("src/main.txt");
    expect(broken.endReason).toContain("feature.txt");

    // The copy is fine: the next lease gets a clean tree.
    const next = await lease({ repositoryURL: repos.fileUrl("app"), ref: "main" });
    await waitForLeaseStatus(drydock, next, ["active"], 60_000);
    expect(await run(next, ["git", "status", "--porcelain", "--ignored"])).toBe("");
    expect(await run(next, ["git", "rev-parse", "HEAD"])).toBe(`${shas.second}\n`);
    await done(next);
  });

  it("destroys a copy that cannot be cleaned; the lease lands on a new one", async () => {
    const spoiler = await lease({ repositoryURL: repos.fileUrl("app"), ref: "main" });
    const spoilt = await waitForLeaseStatus(drydock, spoiler, ["active"], 60_000);
    // Its .git replaced by a file pointing elsewhere: the copy is no longer ours.
    await run(spoiler, ["sh", "-c", "rm -rf .git && echo 'gitdir: /tmp/elsewhere' > .git"]);
    await done(spoiler);

    const next = await lease({ repositoryURL: repos.fileUrl("app"), ref: "main" });
    const landed = await waitForLeaseStatus(drydock, next, ["active"], 60_000);
    expect(landed.resourceId).not.toBe(spoilt.resourceId);
    expect(await run(next, ["git", "rev-parse", "HEAD"])).toBe(`${shas.second}\n`);
    const events = (await drydock.store.readStream(`lease-${next}`)).map((e) => e.type);
    expect(events).toContain("LeaseReacquiring");
    await watchUntil(drydock, `resource-${spoilt.resourceId}`, "the unclean copy to be destroyed", async () => (await getResource(drydock.database.db, spoilt.resourceId!)).status === "destroyed", 30_000);
    const old = await getResource(drydock.database.db, spoilt.resourceId!);
    expect(old.endReason).toMatch(/could not be cleaned: \.git is a file/);
    await done(next);
  });

  it("refuses bad attributes naming the field, appending nothing", async () => {
    const before = (await drydock.store.readByPosition(0, 100_000)).length;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ref: "main" }, /attributes\.repositoryURL/],
      [{ repositoryURL: repos.fileUrl("app") }, /attributes\.ref: exactly one of ref and commit/],
      [{ repositoryURL: repos.fileUrl("app"), ref: "../x" }, /attributes\.ref/],
      [{ repositoryURL: repos.fileUrl("app"), commit: "abc" }, /attributes\.commit/],
      [{ repositoryURL: "https://user:secret@git.example.net/app.git", ref: "main" }, /attributes\.repositoryURL: no credentials in the URL/],
      [{ repositoryURL: "ext::sh -c touch% /tmp/pwned", ref: "main" }, /attributes\.repositoryURL/],
      [{ repositoryURL: "file:///etc/app", ref: "main" }, /attributes\.repositoryURL: \/etc\/app is not under/],
      [{ repositoryURL: repos.fileUrl("app"), ref: "main", merges: [{ ref: "a", commit: shas.first }] }, /attributes\.merges\.0/],
      [{ repositoryURL: repos.fileUrl("app"), ref: "main", merges: "feature" }, /attributes\.merges/],
    ];
    for (const [attributes, reason] of cases) {
      const refused = await lease(attributes).then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused, JSON.stringify(attributes)).toBeInstanceOf(UnsatisfiableError);
      expect(JSON.stringify((refused as UnsatisfiableError).details)).toMatch(reason);
    }
    expect((await drydock.store.readByPosition(0, 100_000)).length).toBe(before);
    expect(unexpected).toEqual([]);
  });
});
