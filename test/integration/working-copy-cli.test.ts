import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { serve, type ServerType } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { approveAuthorization, requestAuthorization } from "../../src/auth/authorization-commands";
import { issueToken } from "../../src/auth/token-commands";
import { createBlueprint } from "../../src/commands/blueprint-commands";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createGitRepos, git, type GitRepos } from "../support/git-repos";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/** `drydock lease --type working-copy --attr repositoryURL=… --attr ref=main --attr merges=…`, as a user types it. */
const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let database: TestDatabase;
let drydock: Drydock;
let server: ServerType;
let root: string;
let repos: GitRepos;
let env: NodeJS.ProcessEnv;
const shas: Record<string, string> = {};

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-wc-cli-"));
  repos = await createGitRepos();
  await repos.create("app", { "README.md": "app\n" });
  shas.main = await git(path.join(repos.root, "app"), "rev-parse", "HEAD");
  shas.feature = await repos.commit("app", "feature", { "feature.txt": "feature\n" });
  drydock = await createDrydock({ database, localHost: false });
  const actor = { actor: "ops" };
  const hosts = await createBlueprint(drydock.commands, { name: "git-hosts", kind: "local-host", config: { root, slots: 2 } }, actor);
  const copies = await createBlueprint(drydock.commands, { name: "copies", kind: "working-copy", config: { hostBlueprintIds: [hosts], fileRepositoryRoots: [repos.root] } }, actor);
  const { authorizationId } = await requestAuthorization(drydock.commands, hosts, `blueprint:${copies}`, actor);
  await approveAuthorization(drydock.commands, authorizationId, actor);
  server = serve({ fetch: createApp(drydock).fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { token } = await issueToken(drydock.commands, { owner: "ops", role: "admin" }, actor);
  env = { ...process.env, DRYDOCK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, DRYDOCK_TOKEN: token };
  // The CLI talks HTTP only; nothing it starts may reach the shared test database.
  delete env.DATABASE_URL;
  delete env.NODE_OPTIONS;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await drydock?.close();
  await database?.close();
  await repos?.close();
  await rm(root, { recursive: true, force: true });
});

const drydockCli = (args: string[]) => run(process.execPath, ["bin/drydock.js", ...args], { cwd: repoRoot, env, timeout: 90_000 });

// Real clones on two shared cores: a case may take longer than the default minute.
describe("drydock lease --type working-copy", { timeout: 180_000 }, () => {
  it("takes the repository, ref and merges as --attr", async () => {
    const { stdout, stderr } = await drydockCli(["lease", "--type", "working-copy", "--attr", `repositoryURL=${repos.fileUrl("app")}`, "--attr", "ref=main", "--attr", "merges=feature", "--wait=60"]);
    const id = stdout.trim();
    expect(id, stderr).toMatch(/^ls_\w+$/);
    expect(stderr).toContain("LeaseActivated");
    const lease = await waitForLeaseStatus(drydock, id, ["active"]);
    expect(lease.attributes).toEqual({ repositoryURL: repos.fileUrl("app"), ref: "main", merges: ["feature"] });
    const head = await drydockCli(["exec", id, "--", "git", "rev-parse", "HEAD^1", "HEAD^2"]);
    expect(head.stdout).toBe(`${shas.main}\n${shas.feature}\n`);
    await drydockCli(["release", id]);
    await waitForLeaseStatus(drydock, id, ["destroyed"]);
  });

  it("prints the attribute that is wrong", async () => {
    const failed = await drydockCli(["lease", "--type", "working-copy", "--attr", `repositoryURL=${repos.fileUrl("app")}`, "--attr", "ref=../main"]).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain("attributes.ref");
  });
});
