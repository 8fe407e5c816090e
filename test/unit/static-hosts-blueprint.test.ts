import { describe, expect, it } from "vitest";
import type { BlueprintView, ResourceView } from "../../src/blueprints/blueprint";
import { staticHostsBlueprint } from "../../src/blueprints/static-hosts-blueprint";
import type { StaticHostsConfig } from "../../src/blueprints/static-hosts-config";
import { ValidationError } from "../../src/domain/errors";
import { isPlan, leaseView, resourceView } from "../support/blueprint-fixtures";

/** The pure half of `static-hosts`: its config, and the predicates the allocator asks. */
const impl = staticHostsBlueprint();
const FP = "SHA256:eDPnVD1vKTipcNO1uk8ofkrp108f7uLRrxywzeu2xUA";
const host = (name: string, extra: Record<string, unknown> = {}) => ({ name, address: "10.0.0.1", user: "build", privateKey: { env: "BUILD_KEY" }, hostKeyFingerprint: FP, ...extra });

function blueprint(hosts: Record<string, unknown>[]): BlueprintView<StaticHostsConfig> {
  return { blueprintId: "bp_1", name: "pool", kind: "static-hosts", resourceType: "host", config: impl.parseConfig({ hosts }), resourceLimit: null, enabled: true, liveResources: 0, failingTargets: [] };
}
const lease = leaseView;
const resource = (hostName: string, extra: Partial<ResourceView> = {}) => resourceView({ resourceId: `rs_${hostName}`, attributes: { host: hostName }, ...extra });

describe("static-hosts config", () => {
  it("fills in the defaults", () => {
    const config = impl.parseConfig({ hosts: [host("a")] });
    expect(config).toMatchObject({ root: "/tmp/drydock", readyCommand: null, healthIntervalSeconds: 60, connectTimeoutSeconds: 10, allowShell: false });
    expect(config.hosts[0]).toMatchObject({ port: 22, slots: 4, drained: false, attributes: { labels: [] } });
    expect(impl.defaultResourceLimit(config)).toBeNull();
  });

  it.each([
    ["a key pasted in instead of a reference", { hosts: [host("a", { privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" })] }, "config.hosts.0.privateKey"],
    ["a relative key file", { hosts: [host("a", { privateKey: { file: "id_ed25519" } })] }, "config.hosts.0.privateKey"],
    ["a duplicate name", { hosts: [host("a"), host("a")] }, "config.hosts.1.name"],
    ["an MD5 fingerprint", { hosts: [host("a", { hostKeyFingerprint: "MD5:16:27:ac" })] }, "config.hosts.0.hostKeyFingerprint"],
    ["a relative root", { root: "drydock" }, "config.root"],
    ["the root directory as root", { root: "/" }, "config.root"],
    ["a root with ..", { root: "/tmp/../etc" }, "config.root"],
    ["an unknown key", { hosts: [], password: "x" }, "config"],
  ])("refuses %s, naming the field", (_what, raw, field) => {
    expect(() => impl.parseConfig(raw)).toThrow(ValidationError);
    try {
      impl.parseConfig(raw);
    } catch (error) {
      expect((error as Error).message.startsWith(field)).toBe(true);
    }
  });
});

describe("static-hosts predicates", () => {
  const bp = blueprint([host("a", { attributes: { os: "linux", labels: ["gpu"] } }), host("b", { attributes: { os: "linux" }, slots: 2 }), host("c", { drained: true, attributes: { os: "freebsd" } })]);

  it("can ever serve a lease some host matches, drained hosts included", () => {
    expect(impl.canEverAllocate(bp, lease({ os: "linux", labels: ["gpu"] })).ok).toBe(true);
    expect(impl.canEverAllocate(bp, lease({ host: "b" })).ok).toBe(true);
    expect(impl.canEverAllocate(bp, lease({ os: "freebsd" })).ok).toBe(true);
    const never = impl.canEverAllocate(bp, lease({ os: "windows" }));
    expect(never).toEqual({ ok: false, reason: expect.stringContaining("no host matches") });
    expect(impl.canEverAllocate(blueprint([]), lease()).ok).toBe(false);
  });

  it("plans one resource per host: a free, undrained, matching host, with its slot lock", () => {
    const plan = impl.planResource(bp, lease({ labels: ["gpu"] }), []);
    expect(isPlan(plan) && plan).toMatchObject({ leaseSlots: 4, locks: ["static-hosts:bp_1:a"], attributes: { host: "a", os: "linux", labels: ["gpu"], address: "10.0.0.1", port: 22, user: "build" } });
    expect(impl.planResource(bp, lease({ labels: ["gpu"] }), [resource("a")])).toEqual({ ok: false, reason: "a has a resource already" });
    expect(impl.planResource(bp, lease({ host: "a" }), [resource("a", { status: "broken", endReason: "health check failed 2 times in a row: cannot connect to a" })])).toEqual({
      ok: false,
      reason: "a's last resource is broken (health check failed 2 times in a row: cannot connect to a) and not torn down yet: the host takes no new one until it answers again",
    });
    expect(impl.planResource(bp, lease({ os: "freebsd" }), [])).toEqual({ ok: false, reason: "c is drained" });
    const onB = impl.planResource(bp, lease({ os: "linux" }), [resource("a")]);
    expect(isPlan(onB) && onB.locks).toEqual(["static-hosts:bp_1:b"]);
  });

  it("spreads leases over the free hosts", () => {
    const wide = blueprint(["a", "b", "c", "d"].map((n) => host(n)));
    const chosen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const plan = impl.planResource(wide, lease({}, `ls_${i}`), []);
      if (isPlan(plan)) chosen.add(plan.attributes.host as string);
    }
    expect(chosen).toEqual(new Set(["a", "b", "c", "d"]));
  });

  it("acquires on a host still in the config, undrained, matching, with a free slot (a lowered slot count applies at once)", () => {
    expect(impl.canAcquire(bp, resource("a"), lease({ labels: ["gpu"] })).ok).toBe(true);
    expect(impl.canAcquire(bp, resource("a", { liveLeases: 4 }), lease())).toEqual({ ok: false, reason: "all 4 slots in use" });
    expect(impl.canAcquire(bp, resource("b", { liveLeases: 2 }), lease())).toEqual({ ok: false, reason: "all 2 slots in use" });
    expect(impl.canAcquire(bp, resource("c"), lease())).toEqual({ ok: false, reason: "host c is drained" });
    expect(impl.canAcquire(bp, resource("z"), lease())).toEqual({ ok: false, reason: "host z is no longer in the blueprint" });
    expect(impl.canAcquire(bp, resource("b"), lease({ labels: ["gpu"] })).ok).toBe(false);
    expect(impl.shouldAllocateSupplemental(bp, resource("a", { liveLeases: 1 }), lease())).toBe(true);
  });

  it("retires the resources of drained and removed hosts, and checks health at the configured pace", () => {
    expect(impl.retireReason!(bp, resource("a"), new Date())).toBeNull();
    expect(impl.retireReason!(bp, resource("c"), new Date())).toBe("host c is drained");
    expect(impl.retireReason!(bp, resource("z"), new Date())).toBe("host z was removed from the blueprint");
    expect(impl.healthPolicy!(bp)).toEqual({ intervalMs: 60_000, failuresBeforeBroken: 2, retryMs: 15_000 });
  });

  it("builds nothing on a host with a configuration error and says the error, not 'is the host down?'", () => {
    const failing = { target: "a", code: "host_key_mismatch", message: "the host key of a did not match its pinned fingerprint", failures: 1, since: "2024-05-01T10:00:00.000Z", retryAt: "2024-05-01T10:01:00.000Z" };
    const withFailure = { ...bp, failingTargets: [failing] };
    // Host a only: the configuration error is the whole answer, marked as one.
    expect(impl.planResource(withFailure, lease({ labels: ["gpu"] }), [resource("a", { status: "broken" })])).toEqual({
      ok: false,
      reason: "the host key of a did not match its pinned fingerprint (fix the blueprint's config; tried again at 2024-05-01T10:01:00.000Z otherwise)",
      cause: "configuration",
    });
    // Host b is busy: the lease waits for it, and the reason names both.
    const both = impl.planResource(withFailure, lease({ os: "linux" }), [resource("b")]);
    expect(both).toEqual({ ok: false, reason: expect.stringMatching(/^the host key of a did not match .*; b has a resource already$/) });
    // Host b is free: it is planned, a is not.
    expect(impl.planResource(withFailure, lease({ os: "linux" }), [])).toMatchObject({ attributes: { host: "b" } });
    expect(impl.targetOf!(resource("a"))).toBe("a");
  });
});

describe("static-hosts environment check at create and PATCH", () => {
  it("names the field of a key variable that is not set, and of a key file the service cannot read", () => {
    const name = "DRYDOCK_TEST_UNSET_KEY_VARIABLE";
    delete process.env[name];
    const config = impl.parseConfig({ hosts: [host("a", { privateKey: { env: "HOME" } }), host("b", { privateKey: { env: name } })] });
    expect(() => impl.checkEnvironment!(config)).toThrow(new RegExp(`^config\\.hosts\\.1\\.privateKey\\.env: environment variable ${name} is not set`));
    const unreadable = impl.parseConfig({ hosts: [host("a", { privateKey: { file: "/nonexistent/id_ed25519" } })] });
    expect(() => impl.checkEnvironment!(unreadable)).toThrow(/^config\.hosts\.0\.privateKey\.file: the Drydock service cannot read \/nonexistent\/id_ed25519 \(ENOENT\)/);
    process.env[name] = "set";
    try {
      expect(() => impl.checkEnvironment!(config)).not.toThrow();
    } finally {
      delete process.env[name];
    }
  });
});
