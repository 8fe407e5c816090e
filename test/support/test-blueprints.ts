import { z } from "zod";
import { matchAttributes } from "../../src/blueprints/attribute-match";
import { no, yes, type BlueprintImplementation, type LeaseInterfaces } from "../../src/blueprints/blueprint";
import { PermanentFailure, TemporaryFailure } from "../../src/blueprints/failures";
import { InterfaceUnavailableError } from "../../src/domain/errors";
import { parseOrThrow } from "../../src/domain/parse";
import type { CommandInterface } from "../../src/interfaces/command-interface";
import type { FilesystemInterface } from "../../src/interfaces/filesystem-interface";

/**
 * `memory-pool` (type `sandbox`): resources that exist only as rows, for allocator tests that
 * need a pool with a limit and many slots without touching the machine. Faults can be injected
 * through its config.
 */
const memoryPoolConfig = z
  .object({
    slots: z.number().int().min(1).default(2),
    labels: z.array(z.string()).default([]),
    activationDelayMs: z.number().int().min(0).default(0),
    failActivation: z.enum(["none", "temporary", "permanent"]).default("none"),
    /** Every lease's setup on a resource fails for good (a lease that breaks: holdOnFailure). */
    failLeaseActivation: z.boolean().default(false),
    /** Every teardown of a resource fails for good, as a cloud that refuses TerminateInstances (a missing permission). */
    failDestroy: z.boolean().default(false),
    /** With failDestroy: the failure is a host that is down, to be tried again after this long (as static-hosts' health interval), not a refusal. */
    failDestroyRetryAfterMs: z.number().int().min(0).default(0),
    supplemental: z.boolean().default(true),
  })
  .strict();
type MemoryPoolConfig = z.infer<typeof memoryPoolConfig>;

export function memoryPoolBlueprint(): BlueprintImplementation<MemoryPoolConfig> {
  return {
    kind: "memory-pool",
    resourceType: "sandbox",
    description: "Test pool: resources that are only rows.",
    parseConfig: (raw) => parseOrThrow(memoryPoolConfig, raw ?? {}, "config"),
    defaultResourceLimit: () => 2,
    canEverAllocate: (bp, lease) => matchAttributes(lease.attributes, { labels: bp.config.labels }),
    planResource: (bp) => ({ attributes: { labels: bp.config.labels }, leaseSlots: bp.config.slots, locks: [], heldLeases: [] }),
    canAcquire: (_bp, resource, lease) => {
      const m = matchAttributes(lease.attributes, resource.attributes);
      return m.ok ? yes : m;
    },
    shouldAllocateSupplemental: (bp) => bp.config.supplemental,
    async activateResource(bp) {
      if (bp.config.activationDelayMs) await new Promise((r) => setTimeout(r, bp.config.activationDelayMs));
      if (bp.config.failActivation === "temporary") throw new TemporaryFailure("the provider is busy", "provider_busy");
      if (bp.config.failActivation === "permanent") throw new PermanentFailure("the image does not exist", "image_missing");
      return { activated: true };
    },
    async destroyResource(bp) {
      if (bp.config.failDestroy && bp.config.failDestroyRetryAfterMs > 0) throw new TemporaryFailure("cannot reach the host: ECONNREFUSED", "host_unreachable", bp.config.failDestroyRetryAfterMs);
      if (bp.config.failDestroy) throw new PermanentFailure("UnauthorizedOperation: you are not authorized to perform TerminateInstances", "UnauthorizedOperation");
    },
    async activateLease(bp) {
      if (bp.config.failLeaseActivation) throw new PermanentFailure("the lease's setup script failed", "setup_failed");
      return { workingDirectory: null };
    },
    async destroyLease() {},
    async interfaces() {
      throw new InterfaceUnavailableError("memory-pool resources have no interfaces");
    },
  };
}

/**
 * `scratch-dir` (type `scratch`): a directory on a leased host. The resource holds a `host`
 * lease, builds its directory through that lease's filesystem, and serves its own leases through
 * the host lease's interfaces, rooted in that directory: the shape of the git working copy.
 */
const scratchConfig = z.object({ slots: z.number().int().min(1).default(1), hostBlueprintIds: z.array(z.string()).nullable().default(null) }).strict();
type ScratchConfig = z.infer<typeof scratchConfig>;

function under(prefix: string, fs: FilesystemInterface): FilesystemInterface {
  const p = (path: string) => (path === "" || path === "." ? prefix : `${prefix}/${path}`);
  return {
    openFile: (path) => fs.openFile(p(path)),
    writeFile: (path, data) => fs.writeFile(p(path), data),
    list: (path, page) => fs.list(p(path), page),
    remove: (path) => fs.remove(p(path)),
  };
}

function inDir(dir: string, command: CommandInterface): CommandInterface {
  return { exec: (argv, options = {}) => command.exec(argv, { ...options, cwd: options.cwd ? `${dir}/${options.cwd}` : dir }) };
}

async function hostOf(effects: { heldLeaseInterfaces(id: string): Promise<LeaseInterfaces[]> }, resourceId: string): Promise<LeaseInterfaces> {
  const [host] = await effects.heldLeaseInterfaces(resourceId);
  if (!host) throw new PermanentFailure("scratch resource holds no host lease");
  return host;
}

export function scratchBlueprint(): BlueprintImplementation<ScratchConfig> {
  return {
    kind: "scratch-dir",
    resourceType: "scratch",
    description: "Test blueprint: a directory on a leased host.",
    parseConfig: (raw) => parseOrThrow(scratchConfig, raw ?? {}, "config"),
    defaultResourceLimit: () => null,
    canEverAllocate: () => yes,
    planResource: (bp) => ({
      attributes: {},
      leaseSlots: bp.config.slots,
      locks: [],
      heldLeases: [{ resourceType: "host", attributes: {}, blueprintIds: bp.config.hostBlueprintIds }],
    }),
    canAcquire: (_bp, resource) => (resource.liveLeases < resource.leaseSlots ? yes : no("in use")),
    shouldAllocateSupplemental: () => true,
    async activateResource(_bp, resource, effects) {
      const host = await hostOf(effects, resource.resourceId);
      await host.filesystem.writeFile(`scratch/${resource.resourceId}/.drydock-scratch`, new TextEncoder().encode(resource.resourceId));
      return { directory: `scratch/${resource.resourceId}` };
    },
    async destroyResource(_bp, resource, effects) {
      const host = await hostOf(effects, resource.resourceId).catch(() => null);
      await host?.filesystem.remove(`scratch/${resource.resourceId}`).catch(() => {});
    },
    async activateLease() {
      return { workingDirectory: null };
    },
    async destroyLease() {},
    async interfaces(_bp, resource, _lease, effects) {
      const host = await hostOf(effects, resource.resourceId);
      const dir = `scratch/${resource.resourceId}`;
      return { command: inDir(dir, host.command), filesystem: under(dir, host.filesystem) };
    },
  };
}
