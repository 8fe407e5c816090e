import { describe, expect, it } from "vitest";
import { hasJournal, mountOf, parseMountInfo } from "../../src/sandbox/journal-less-root";

/** Lines as /proc/self/mountinfo writes them (proc(5)), optional fields and an escaped space included. */
const MOUNTINFO = [
  "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard",
  "25 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
  "30 22 254:16 / /srv/drydock rw,relatime shared:5 master:2 - ext4 /dev/vdb rw",
  "31 22 0:40 / /srv/drydock-tmp rw,relatime - tmpfs tmpfs rw,size=1024k",
  "32 22 254:32 / /srv/build\\040farm rw,relatime - xfs /dev/vdc rw",
  "33 30 0:41 / /srv/drydock/over rw - tmpfs tmpfs rw",
  "",
].join("\n");

describe("the filesystem under the local host's root", () => {
  it("reads each mount's point, device and type, with escaped characters decoded", () => {
    const mounts = parseMountInfo(MOUNTINFO);
    expect(mounts).toHaveLength(6);
    expect(mounts[0]).toEqual({ mountPoint: "/", device: "254:0", fsType: "ext4" });
    expect(mounts[2]).toEqual({ mountPoint: "/srv/drydock", device: "254:16", fsType: "ext4" });
    expect(mounts[4]).toEqual({ mountPoint: "/srv/build farm", device: "254:32", fsType: "xfs" });
  });

  it("finds the deepest mount above a path, never one that only shares its prefix", () => {
    const mounts = parseMountInfo(MOUNTINFO);
    expect(mountOf("/srv/drydock/local-host", mounts)?.device).toBe("254:16");
    expect(mountOf("/srv/drydock", mounts)?.device).toBe("254:16");
    // /srv/drydock-tmp is its own mount, not under /srv/drydock.
    expect(mountOf("/srv/drydock-tmp/x", mounts)?.fsType).toBe("tmpfs");
    expect(mountOf("/srv/drydockx", mounts)?.device).toBe("254:0");
    expect(mountOf("/srv/drydock/over/leases", mounts)?.fsType).toBe("tmpfs");
    expect(mountOf("/srv/build farm/leases", mounts)?.fsType).toBe("xfs");
    expect(mountOf("/home/ci", mounts)?.mountPoint).toBe("/");
  });

  it("takes the mount made last where two share a mount point", () => {
    const mounts = parseMountInfo([MOUNTINFO, "40 30 0:50 / /srv/drydock rw - tmpfs tmpfs rw"].join("\n"));
    expect(mountOf("/srv/drydock/leases", mounts)?.fsType).toBe("tmpfs");
  });

  it("has a journal only when jbd2 runs for that very device", () => {
    expect(hasJournal("vda", ["vda-8", "dm-0-8"])).toBe(true);
    expect(hasJournal("vdb", ["vda-8", "dm-0-8"])).toBe(false);
    expect(hasJournal("dm-0", ["dm-0-8"])).toBe(true);
    // vda1's journal says nothing of vda.
    expect(hasJournal("vda", ["vda1-8"])).toBe(false);
    expect(hasJournal("vda", [])).toBe(false);
  });
});
