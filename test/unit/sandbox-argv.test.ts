import { describe, expect, it } from "vitest";
import { ancestorsOf, sandboxArgv, type SandboxSpec } from "../../src/sandbox/sandbox-argv";

const spec: SandboxSpec = {
  leaseDir: "/srv/drydock/local-host/rs_1/leases/ls_1",
  leaseDirFd: 3,
  tmpDirFd: 4,
  cwd: "/srv/drydock/local-host/rs_1/leases/ls_1/src",
  readOnlyPaths: [{ path: "/usr" }, { path: "/bin", symlinkTo: "usr/bin" }, { path: "/opt" }],
  hidden: ["/opt/drydock-home", "/var/lib/drydock"],
  network: false,
  user: { uid: 999, gid: 995 },
  cgroupDir: "/sys/fs/cgroup/pids/drydock/ls_1",
  argv: ["make", "-j2"],
};

/** The value after each occurrence of `flag`. */
const after = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));

describe("sandboxArgv", () => {
  it("joins the lease's cgroup first, then starts bwrap with fresh namespaces and no network", () => {
    const argv = sandboxArgv(spec);
    expect(argv.slice(0, 4)).toEqual(["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', "/sys/fs/cgroup/pids/drydock/ls_1"]);
    expect(argv[4]).toBe("bwrap");
    for (const flag of ["--unshare-pid", "--unshare-ipc", "--unshare-net", "--die-with-parent", "--new-session"]) expect(argv).toContain(flag);
    expect(sandboxArgv({ ...spec, network: true })).not.toContain("--unshare-net");
    expect(sandboxArgv({ ...spec, cgroupDir: null })[0]).toBe("bwrap");
  });

  it("mounts system paths read-only, hides the service's paths beneath them, and binds only the lease read-write", () => {
    const argv = sandboxArgv(spec);
    expect(after(argv, "--ro-bind")).toEqual(["/usr", "/opt"]);
    expect(after(argv, "--symlink")).toEqual(["usr/bin"]);
    // Only the hidden path below a mounted one needs covering; /var is not mounted at all.
    expect(after(argv, "--tmpfs")).toEqual(["/opt/drydock-home"]);
    expect(argv.indexOf("--tmpfs")).toBeGreaterThan(argv.lastIndexOf("--ro-bind"));
    expect(after(argv, "--bind-fd")).toEqual(["4", "3"]);
    expect(argv).not.toContain("--bind");
    expect(argv[argv.indexOf("--bind-fd", argv.indexOf("--bind-fd") + 1) + 2]).toBe(spec.leaseDir);
  });

  it("drops to the lease user, with no capabilities, right before the command", () => {
    const argv = sandboxArgv(spec);
    const setpriv = argv.indexOf("setpriv");
    expect(setpriv).toBeGreaterThan(argv.indexOf("--"));
    expect(argv.slice(setpriv + 1, setpriv + 8)).toEqual(["--reuid=999", "--regid=995", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]);
    expect(argv.slice(-2)).toEqual(["make", "-j2"]);
    const unprivileged = sandboxArgv({ ...spec, user: null });
    expect(unprivileged).not.toContain("setpriv");
    expect(unprivileged).not.toContain("--cap-add");
  });

  it("makes the directories above the lease traversable before binding it", () => {
    expect(ancestorsOf("/a/b/c")).toEqual(["/a", "/a/b"]);
    const argv = sandboxArgv(spec);
    expect(after(argv, "--dir")).toEqual(ancestorsOf(spec.leaseDir));
  });
});
