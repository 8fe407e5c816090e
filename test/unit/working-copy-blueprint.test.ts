import { describe, expect, it } from "vitest";
import type { BlueprintView } from "../../src/blueprints/blueprint";
import { covers } from "../../src/blueprints/working-copy/copy-git";
import { checkoutInterfaces, inCheckout } from "../../src/blueprints/working-copy/copy-interfaces";
import { parseSweep, sweepArgv } from "../../src/blueprints/working-copy/copy-processes";
import { basicAuthorization, fetchBranchesCommand, fetchSourceCommand, mergeCommand } from "../../src/blueprints/working-copy/git-commands";
import { parseWorkingCopyRequest } from "../../src/blueprints/working-copy/lease-request";
import { fileSourcesAllowed, workingCopyBlueprint } from "../../src/blueprints/working-copy/working-copy-blueprint";
import { parseWorkingCopyConfig, type WorkingCopyConfig } from "../../src/blueprints/working-copy/working-copy-config";
import { ValidationError } from "../../src/domain/errors";
import { isPlan, leaseView, resourceView } from "../support/blueprint-fixtures";

const SHA = "a".repeat(40);
const URL_ = "https://git.example.net/org/app.git";
const blueprint = (config: Record<string, unknown> = {}): BlueprintView<WorkingCopyConfig> => ({
  blueprintId: "bp_wc",
  name: "copies",
  kind: "working-copy",
  resourceType: "working-copy",
  config: parseWorkingCopyConfig(config),
  resourceLimit: null,
  enabled: true,
  liveResources: 0,
  failingTargets: [],
});
const impl = workingCopyBlueprint();
const fieldOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.message;
    throw error;
  }
  return "no error";
};

describe("a working-copy lease's attributes", () => {
  it("name a repository and a ref or a commit, with merges on top", () => {
    expect(parseWorkingCopyRequest({ repositoryURL: URL_, ref: "main" })).toEqual({ repositoryURL: URL_, target: { repositoryURL: URL_, ref: "main" }, merges: [] });
    const r = parseWorkingCopyRequest({ repositoryURL: URL_, commit: SHA, merges: ["feature/x", SHA, { repositoryURL: "git://other/app", ref: "refs/changes/12/34/1" }, { commit: SHA }], labels: ["big"] });
    expect(r.target).toEqual({ repositoryURL: URL_, commit: SHA });
    expect(r.merges).toEqual([
      { repositoryURL: URL_, ref: "feature/x" },
      { repositoryURL: URL_, commit: SHA },
      { repositoryURL: "git://other/app", ref: "refs/changes/12/34/1" },
      { repositoryURL: URL_, commit: SHA },
    ]);
  });

  it.each([
    [{ ref: "main" }, "attributes.repositoryURL"],
    [{ repositoryURL: URL_ }, "attributes.ref: exactly one of ref and commit"],
    [{ repositoryURL: URL_, ref: "main", commit: SHA }, "attributes.ref: exactly one of ref and commit"],
    [{ repositoryURL: URL_, ref: "-upload-pack=x" }, "attributes.ref"],
    [{ repositoryURL: URL_, ref: "a..b" }, "attributes.ref"],
    [{ repositoryURL: URL_, ref: "a b" }, "attributes.ref"],
    [{ repositoryURL: URL_, commit: "A".repeat(40) }, "attributes.commit"],
    [{ repositoryURL: "https://u:p@git.example.net/x", ref: "main" }, "attributes.repositoryURL: no credentials in the URL"],
    [{ repositoryURL: "https://token@git.example.net/x", ref: "main" }, "attributes.repositoryURL: no credentials in the URL"],
    [{ repositoryURL: "ext::sh -c id", ref: "main" }, "attributes.repositoryURL"],
    [{ repositoryURL: "fd::3", ref: "main" }, "attributes.repositoryURL"],
    [{ repositoryURL: "-u/x", ref: "main" }, "attributes.repositoryURL"],
    [{ repositoryURL: "file://host/x", ref: "main" }, "attributes.repositoryURL: file:///absolute/path"],
    [{ repositoryURL: "file:///srv/../etc", ref: "main" }, "attributes.repositoryURL"],
    [{ repositoryURL: "file:///srv/%2e%2e/etc", ref: "main" }, "attributes.repositoryURL"],
    [{ repositoryURL: "FILE:///etc/app", ref: "main" }, "attributes.repositoryURL: the scheme in lower case"],
    [{ repositoryURL: URL_, ref: "main", merges: [{ ref: "a", commit: SHA }] }, "attributes.merges.0"],
    [{ repositoryURL: URL_, ref: "main", merges: "feature" }, "attributes.merges"],
  ])("refuse %j naming the field", (attributes, message) => {
    expect(fieldOf(() => parseWorkingCopyRequest(attributes))).toContain(message);
  });
});

describe("the working-copy blueprint's predicates", () => {
  const lease = (attributes: Record<string, unknown>) => ({ ...leaseView(attributes), resourceType: "working-copy" });

  it("reads file:// repositories only under fileRepositoryRoots", () => {
    const req = (url: string) => parseWorkingCopyRequest({ repositoryURL: URL_, ref: "main", merges: [{ repositoryURL: url, ref: "x" }] });
    expect(fileSourcesAllowed(parseWorkingCopyConfig({ fileRepositoryRoots: ["/srv/git"] }), req("file:///srv/git/app"))).toEqual({ ok: true });
    expect(fileSourcesAllowed(parseWorkingCopyConfig({ fileRepositoryRoots: ["/srv/git"] }), req("file:///srv/gitx/app"))).toMatchObject({ ok: false, reason: expect.stringContaining("attributes.merges.0.repositoryURL") });
    expect(impl.canEverAllocate(blueprint(), lease({ repositoryURL: "file:///srv/git/app", ref: "main" }))).toMatchObject({ ok: false, reason: expect.stringContaining("fileRepositoryRoots is empty") });
    expect(impl.canEverAllocate(blueprint(), lease({ repositoryURL: URL_, ref: "main" }))).toEqual({ ok: true });
  });

  it("plans a copy holding one host lease, with one lease slot", () => {
    const plan = impl.planResource(blueprint({ hostBlueprintIds: ["bp_h"], hostAttributes: { labels: ["git"] } }), lease({ repositoryURL: URL_, ref: "main" }), []);
    if (!isPlan(plan)) throw new Error(plan.ok ? "no plan" : plan.reason);
    expect(plan).toEqual({ attributes: { repositoryURL: URL_ }, leaseSlots: 1, locks: [], heldLeases: [{ resourceType: "host", attributes: { labels: ["git"] }, blueprintIds: ["bp_h"] }] });
  });

  it("gives a lease an idle copy of its repository only", () => {
    const copy = (extra = {}) => resourceView({ resourceType: "working-copy", leaseSlots: 1, attributes: { repositoryURL: URL_ }, ...extra });
    const wants = lease({ repositoryURL: URL_, commit: SHA });
    expect(impl.canAcquire(blueprint(), copy(), wants)).toEqual({ ok: true });
    expect(impl.canAcquire(blueprint(), copy({ liveLeases: 1 }), wants)).toMatchObject({ ok: false, reason: "in use by another lease" });
    expect(impl.canAcquire(blueprint(), copy({ attributes: { repositoryURL: "https://git.example.net/other.git" } }), wants)).toMatchObject({ ok: false });
    expect(impl.shouldAllocateSupplemental(blueprint(), copy(), wants)).toBe(false);
  });
});

describe("git commands of a copy", () => {
  const credential = { kind: "header" as const, urlPrefix: "https://git.example.net/org", header: basicAuthorization("x-access-token", "s3cret") };

  it("pass a token on stdin only, scoped to its prefix, never in argv or the URL", () => {
    const run = fetchSourceCommand({ repositoryURL: URL_, ref: "main" }, credential);
    expect(run.argv.join(" ")).not.toMatch(/s3cret|Authorization|czNjcmV0/);
    expect(JSON.stringify(run.env)).not.toMatch(/s3cret|Authorization|czNjcmV0/);
    expect(run.stdin).toBe(`Authorization: Basic ${Buffer.from("x-access-token:s3cret").toString("base64")}\n`);
    expect(run.env).toMatchObject({ GIT_CONFIG_KEY_0: "http.https://git.example.net/org.extraHeader", GIT_CONFIG_KEY_1: "http.followRedirects", GIT_CONFIG_VALUE_1: "false" });
    expect(run.argv.slice(0, 4)).toEqual(["sh", "-c", 'IFS= read -r GIT_CONFIG_VALUE_0 || exit 125; export GIT_CONFIG_VALUE_0; exec "$@"', "sh"]);
    expect(run.argv.slice(-3)).toEqual(["--", URL_, "main"]);
    expect(fetchSourceCommand({ repositoryURL: URL_, ref: "main" }, null).stdin).toBeUndefined();
  });

  it("give a deploy key to an agent on stdin, and let ssh trust only the pinned host keys", () => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----\n";
    const run = fetchSourceCommand({ repositoryURL: "ssh://git@git.example.net/org/app.git", ref: "main" }, { kind: "deploy-key", key, knownHosts: "git.example.net ssh-ed25519 AAAA\n" });
    expect(run.stdin).toBe(key);
    expect(JSON.stringify([run.argv, run.env])).not.toMatch(/PRIVATE KEY|b3BlbnNzaC1rZXktdjE/);
    expect(run.argv[2]).toContain("ssh-add -q -");
    expect(run.env.GIT_SSH_COMMAND).toBe("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=../.drydock-known-hosts -o GlobalKnownHostsFile=/dev/null");
    expect(covers("ssh://git@git.example.net/org", "ssh://git@git.example.net/org/app.git")).toBe(true);
    expect(covers("ssh://git@git.example.net/org", "ssh://other@git.example.net/org/app.git")).toBe(false);
  });

  it("never read the copy's own config, hooks or global config", () => {
    const run = mergeCommand(SHA, { repositoryURL: URL_, ref: "feature" });
    expect(run.argv).toEqual(expect.arrayContaining(["-c", "core.hooksPath=/dev/null", "-c", "protocol.allow=never", "-c", "core.fsmonitor=false"]));
    expect(run.env).toMatchObject({ GIT_DIR: ".git", GIT_COMMON_DIR: ".git", GIT_CONFIG_GLOBAL: "/dev/null", GIT_TERMINAL_PROMPT: "0" });
    expect(run.cwd).toBe("repo");
  });

  it("trust a file:// repository's ownership through upload-pack only", () => {
    expect(fetchBranchesCommand("file:///srv/git/app", null).argv).toContain("--upload-pack=git -c safe.directory=/srv/git/app -c safe.directory=/srv/git/app/.git upload-pack");
    expect(fetchBranchesCommand(URL_, null).argv.some((a) => a.startsWith("--upload-pack"))).toBe(false);
  });

  it("match credentials as git matches http.<url>.*", () => {
    expect(covers("https://git.example.net/org", URL_)).toBe(true);
    expect(covers("https://git.example.net/org/", URL_)).toBe(true);
    expect(covers("https://git.example.net/", URL_)).toBe(true);
    expect(covers("https://git.example.net/or", URL_)).toBe(false);
    expect(covers("http://git.example.net/org", URL_)).toBe(false);
    expect(covers("https://git.example.net:8443/org", URL_)).toBe(false);
  });
});

describe("the working-copy config and interfaces", () => {
  it("holds token references, never tokens", () => {
    expect(fieldOf(() => parseWorkingCopyConfig({ credentials: [{ urlPrefix: "https://x.example/", token: "ghp_123" }] }))).toContain("config.credentials.0.token");
    expect(fieldOf(() => parseWorkingCopyConfig({ credentials: [{ urlPrefix: "https://u:p@x.example/", token: { env: "T" } }] }))).toContain("config.credentials.0.urlPrefix");
    expect(fieldOf(() => parseWorkingCopyConfig({ fileRepositoryRoots: ["relative"] }))).toContain("config.fileRepositoryRoots.0");
    expect(parseWorkingCopyConfig({}).credentials).toEqual([]);
    const deployKey = { urlPrefix: "ssh://git@git.example.net/", deployKey: { file: "/etc/drydock/deploy_key" }, knownHosts: "git.example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ\n" };
    expect(parseWorkingCopyConfig({ credentials: [deployKey] }).credentials).toEqual([deployKey]);
    expect(fieldOf(() => parseWorkingCopyConfig({ credentials: [{ ...deployKey, knownHosts: "anything goes" }] }))).toContain("config.credentials.0.knownHosts");
    expect(fieldOf(() => parseWorkingCopyConfig({ credentials: [{ ...deployKey, deployKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }] }))).toContain("config.credentials.0.deployKey");
    expect(fieldOf(() => parseWorkingCopyConfig({ credentials: [{ ...deployKey, urlPrefix: "https://git.example.net/" }] }))).toContain("config.credentials.0.urlPrefix");
  });

  it("root a lease's paths in the checkout", () => {
    expect(inCheckout(undefined)).toBe("repo");
    expect(inCheckout(".")).toBe("repo");
    expect(inCheckout("a/./b//c")).toBe("repo/a/b/c");
    expect(() => inCheckout("../x")).toThrow(/\.\./);
    expect(() => inCheckout("/etc")).toThrow(/absolute/);
  });
});

describe("a working-copy lease's processes", () => {
  it("carry the copy's markers, which a request's env cannot replace", async () => {
    const seen: { argv: readonly string[]; options: Record<string, unknown> }[] = [];
    const host = {
      command: { exec: async (argv: readonly string[], options = {}) => (seen.push({ argv, options }), { exitCode: 0 } as never) },
      filesystem: {} as never,
    };
    const { command } = checkoutInterfaces(host, "rs_copy", "ls_lease");
    await command.exec(["make"], { cwd: "src", env: { DRYDOCK_WORKING_COPY: "rs_other", CC: "clang" } });
    expect(seen[0]!.options).toMatchObject({ cwd: "repo/src", env: { CC: "clang", DRYDOCK_WORKING_COPY: "rs_copy", DRYDOCK_WORKING_COPY_LEASE: "ls_lease" } });
  });

  it("are swept by their exact entry, and the sweep's output read back", () => {
    const argv = sweepArgv("DRYDOCK_WORKING_COPY_LEASE", "ls_1");
    expect(argv.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(argv.slice(3)).toEqual(["sh", "DRYDOCK_WORKING_COPY_LEASE=ls_1"]);
    expect(() => sweepArgv("DRYDOCK_WORKING_COPY", "x'; rm -rf /")).toThrow(/not an id/);
    expect(parseSweep("killed 12 sleep\nnoise\nkilled 13 \n")).toEqual([{ pid: 12, command: "sleep" }, { pid: 13, command: "" }]);
  });
});
