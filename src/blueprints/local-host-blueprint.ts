import type { Stats } from "node:fs";
import { lstat, mkdir, readdir, rm } from "node:fs/promises";
import { arch, hostname, platform } from "node:os";
import path from "node:path";
import { z } from "zod";
import { MAX_TTL_SECONDS } from "../domain/lease-ttl";
import { parseOrThrow } from "../domain/parse";
import { LocalCommandInterface } from "../interfaces/local-command";
import { LocalFilesystemInterface } from "../interfaces/local-filesystem";
import { localHttpd } from "../interfaces/httpd-local";
import { sandboxedHttpd } from "../interfaces/httpd-relay";
import { matchAttributes } from "./attribute-match";
import { no, yes, type BlueprintImplementation, type BlueprintView, type LeaseLeftover, type LeaseView, type ResourceView } from "./blueprint";
import type { LeaseSandboxLease, LocalSandbox } from "../sandbox/local-sandbox";
import { sandboxLauncher, trackedLauncher } from "../sandbox/sandbox-launcher";
import { SandboxedFilesystem } from "../sandbox/sandboxed-filesystem";
import { PermanentFailure } from "./failures";

/**
 * `local-host`: the machine Drydock runs on, as one resource of type `host` with `slots` lease
 * slots. Each lease gets its own directory under `<root>/<resource>/leases/<lease>`.
 */
export const localHostConfigSchema = z
  .object({
    slots: z.number().int().min(1).max(1024).default(8),
    /** Where lease directories live; relative paths are taken from the service's directory. */
    root: z.string().min(1).default(".drydock/local-host"),
    allowShell: z.boolean().default(false),
    labels: z.array(z.string().min(1)).default([]),
    /**
     * Client leases run their commands and file operations in a sandbox (src/sandbox/): an
     * unprivileged user, their own mount, PID, IPC and network namespaces, and the lease's
     * directory as the only writable path. `false` runs them unconfined, as the service's user.
     */
    sandbox: z
      .union([
        z.literal(false),
        z.strictObject({
          /** Share the host's network (reach the service's ports and databases); default loopback only. */
          network: z.boolean().default(false),
          /** Processes one lease may have at once (the pids cgroup's pids.max). */
          maxProcesses: z.number().int().min(8).max(1_000_000).default(1024),
        }),
      ])
      .prefault({}),
    /** Commands one lease may run at once; one more is refused with 429. */
    maxConcurrentCommands: z.number().int().min(1).max(1024).default(16),
    /** TTL of leases that name none and whose token has no default (src/domain/lease-ttl.ts); absent: the service's. */
    defaultLeaseTtlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).optional(),
  })
  .strict();
export type LocalHostConfig = z.infer<typeof localHostConfigSchema>;

/** Facts about this machine, read once by the service and handed in, so predicates stay pure. */
export interface MachineFacts {
  os: string;
  arch: string;
  hostname: string;
}

export function thisMachine(): MachineFacts {
  return { os: platform(), arch: arch(), hostname: hostname() };
}

/**
 * Where the resource's directories are: where it was activated (its `root` attribute), so a
 * config change to `root` moves new resources only, never the directories of live leases.
 */
function resourceRoot(config: LocalHostConfig, resource: ResourceView): string {
  const activated = resource.attributes.root;
  return typeof activated === "string" && path.isAbsolute(activated) ? activated : path.resolve(config.root, resource.resourceId);
}

function leaseRoot(config: LocalHostConfig, resource: ResourceView, leaseId: string): string {
  return path.join(resourceRoot(config, resource), "leases", leaseId);
}

function leaseTmp(config: LocalHostConfig, resource: ResourceView, leaseId: string): string {
  return path.join(resourceRoot(config, resource), "tmp", leaseId);
}

/** A client's lease (or one a resource holds for a client) is confined; an admin's is not. */
function isSandboxed(config: LocalHostConfig, lease: LeaseView): boolean {
  return config.sandbox !== false && lease.authorizingObject !== null;
}

export interface LocalHostSandboxing {
  sandbox: LocalSandbox;
  /** Paths no sandbox may show (the service's home and database), besides the blueprint's root. */
  hidden: readonly string[];
}

export function localHostBlueprint(facts: MachineFacts, sandboxing: LocalHostSandboxing): BlueprintImplementation<LocalHostConfig> {
  const offered = (config: LocalHostConfig) => ({ os: facts.os, arch: facts.arch, labels: config.labels });
  const { sandbox } = sandboxing;
  const sandboxLease = (config: LocalHostConfig, resource: ResourceView, leaseId: string): LeaseSandboxLease => {
    const settings = config.sandbox === false ? { network: true, maxProcesses: 0 } : config.sandbox;
    return {
      leaseId,
      leaseDir: leaseRoot(config, resource, leaseId),
      tmpDir: leaseTmp(config, resource, leaseId),
      settings: { ...settings, hidden: [...sandboxing.hidden, path.resolve(config.root), path.dirname(resourceRoot(config, resource))] },
    };
  };
  const removeLease = async (config: LocalHostConfig, resource: ResourceView, leaseId: string) => {
    // Every process first: none may be left to swap a directory for a symlink under the rm.
    const killedProcesses = await sandbox.killAll(leaseId);
    await sandbox.removeDirectories(path.join(resourceRoot(config, resource), "trash"), leaseRoot(config, resource, leaseId), leaseTmp(config, resource, leaseId));
    return { killedProcesses };
  };
  return {
    kind: "local-host",
    resourceType: "host",
    description: "The machine Drydock runs on; each lease gets its own working directory.",
    parseConfig: (raw) => parseOrThrow(localHostConfigSchema, raw ?? {}, "config"),
    defaultResourceLimit: () => 1,

    canEverAllocate(blueprint, lease) {
      if (isSandboxed(blueprint.config, lease) && !sandbox.available) {
        return no(`this host cannot sandbox client leases (${sandbox.host.unavailable}); an admin may set "sandbox": false to run them unconfined`);
      }
      return matchAttributes(lease.attributes, offered(blueprint.config));
    },
    commandConcurrency: (config) => config.maxConcurrentCommands,
    defaultLeaseTtlSeconds: (config) => config.defaultLeaseTtlSeconds ?? null,
    planResource(blueprint: BlueprintView<LocalHostConfig>) {
      return {
        attributes: { ...offered(blueprint.config), hostname: facts.hostname },
        leaseSlots: blueprint.config.slots,
        // One machine, so one live resource per blueprint, whatever the configured limit.
        locks: [`local-host:${blueprint.blueprintId}`],
        heldLeases: [],
      };
    },
    canAcquire(blueprint, resource, lease) {
      if (resource.liveLeases >= resource.leaseSlots) return no(`all ${resource.leaseSlots} slots in use`);
      const match = matchAttributes(lease.attributes, resource.attributes);
      return match.ok ? yes : match;
    },
    shouldAllocateSupplemental: () => false,

    async activateResource(blueprint, resource) {
      const root = resourceRoot(blueprint.config, resource);
      try {
        await mkdir(path.join(root, "leases"), { recursive: true });
      } catch (error) {
        throw new PermanentFailure(`cannot create ${root}: ${(error as Error).message}`, "root_unusable");
      }
      return { root };
    },
    async destroyResource(blueprint, resource) {
      await rm(resourceRoot(blueprint.config, resource), { recursive: true, force: true });
    },
    // A directory (and a cgroup) on this machine: quick and local.
    activatesLeaseInline: true,
    close: () => sandbox.close(),
    async activateLease(blueprint, resource, lease) {
      const dir = leaseRoot(blueprint.config, resource, lease.leaseId);
      if (isSandboxed(blueprint.config, lease)) {
        if (!sandbox.available) throw new PermanentFailure(`this host cannot sandbox client leases: ${sandbox.host.unavailable}`, "sandbox_unavailable");
        const confined = sandboxLease(blueprint.config, resource, lease.leaseId);
        await sandbox.prepare(confined.leaseDir, confined.tmpDir, lease.leaseId, confined.settings);
      } else {
        await mkdir(dir, { recursive: true });
      }
      return { workingDirectory: dir };
    },
    destroyLease: (blueprint, resource, lease) => removeLease(blueprint.config, resource, lease.leaseId),
    leaseLeftovers: (blueprint, resource) => leftoversIn(resourceRoot(blueprint.config, resource), sandbox.host.cgroupRoot),
    removeLeaseLeftovers: (blueprint, resource, leaseId) => removeLease(blueprint.config, resource, leaseId),
    async interfaces(blueprint, resource, lease) {
      const root = leaseRoot(blueprint.config, resource, lease.leaseId);
      if (isSandboxed(blueprint.config, lease)) {
        const confined = sandboxLease(blueprint.config, resource, lease.leaseId);
        const command = new LocalCommandInterface({ root, allowShell: blueprint.config.allowShell, launcher: sandboxLauncher(sandbox, confined) });
        return {
          command,
          filesystem: new SandboxedFilesystem(sandbox, confined),
          // The sandbox's network stays its own: a relay inside it reaches the server (httpd-relay.ts).
          httpd: sandboxedHttpd(command, { tmpDir: confined.tmpDir, user: sandbox.host.user }),
        };
      }
      const command = new LocalCommandInterface({ root, allowShell: blueprint.config.allowShell, launcher: trackedLauncher(sandbox, lease.leaseId) });
      return { command, filesystem: new LocalFilesystemInterface({ root }), httpd: localHttpd(command) };
    },
  };
}

/**
 * The leases that have a directory (or a /tmp) under the resource's root, each with the latest
 * ctime of the two. An activation changes it (the directory's mode and owner are set each time),
 * and so does anything the lease's commands add at its top level. Then the leases that have only
 * a pids cgroup left (machine-wide: every Drydock on the machine keeps its leases' there).
 */
async function leftoversIn(root: string, cgroupRoot: string | null): Promise<LeaseLeftover[]> {
  const found = new Map<string, number>();
  for (const dir of ["leases", "tmp"]) {
    for (const [name, ctimeMs] of await entriesOf(path.join(root, dir))) found.set(name, Math.max(found.get(name) ?? 0, ctimeMs));
  }
  const leftovers: LeaseLeftover[] = [...found].map(([leaseId, ctimeMs]) => ({ leaseId, changedAt: new Date(ctimeMs) }));
  if (cgroupRoot === null) return leftovers;
  for (const [name, ctimeMs] of await entriesOf(cgroupRoot, (info) => info.isDirectory())) {
    if (!found.has(name)) leftovers.push({ leaseId: name, changedAt: new Date(ctimeMs), machineWide: true });
  }
  return leftovers;
}

/** A directory's entries with their ctime (none when it is not there), those `keep` takes. */
async function entriesOf(dir: string, keep: (info: Stats) => boolean = () => true): Promise<[string, number][]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [] as string[];
    throw error;
  });
  const entries: [string, number][] = [];
  for (const name of names) {
    // lstat: a symlink a lease left in its directory's place is named, never followed.
    const info = await lstat(path.join(dir, name)).catch(() => null);
    if (info && keep(info)) entries.push([name, info.ctimeMs]);
  }
  return entries;
}
