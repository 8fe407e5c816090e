import { describe, expect, it } from "vitest";
import type { BlueprintView, ResourceView } from "../../src/blueprints/blueprint";
import { InlineTeardowns } from "../../src/allocator/inline-teardowns";

const target = (resourceId: string) => ({ blueprint: { blueprintId: "bp_1", kind: "local-host" } as BlueprintView, resource: { resourceId } as ResourceView });

describe("InlineTeardowns", () => {
  it("hands a lease's target out once", () => {
    const teardowns = new InlineTeardowns();
    teardowns.remember("ls_1", target("rs_1"));
    expect(teardowns.take("ls_1")?.resource.resourceId).toBe("rs_1");
    expect(teardowns.take("ls_1")).toBeUndefined();
    expect(teardowns.size).toBe(0);
  });

  it("keeps the latest target of a lease activated again", () => {
    const teardowns = new InlineTeardowns();
    teardowns.remember("ls_1", target("rs_1"));
    teardowns.remember("ls_1", target("rs_2"));
    expect(teardowns.size).toBe(1);
    expect(teardowns.take("ls_1")?.resource.resourceId).toBe("rs_2");
  });

  it("forgets the oldest lease past its bound, so leases torn down elsewhere do not pile up", () => {
    const teardowns = new InlineTeardowns(3);
    for (const id of ["ls_1", "ls_2", "ls_3", "ls_4"]) teardowns.remember(id, target(`rs_${id}`));
    expect(teardowns.size).toBe(3);
    expect(teardowns.take("ls_1")).toBeUndefined();
    expect(teardowns.take("ls_4")?.resource.resourceId).toBe("rs_ls_4");
  });
});
