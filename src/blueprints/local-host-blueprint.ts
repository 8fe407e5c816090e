import { mkdir, rm } from "node:fs/promises";
import { arch, hostname, platform } from "node:os";
import path from "node:path";
import { z } from "zod";
import { parseOrThrow } from "../domain/parse";
import { LocalCommandInterface } from "../interfaces/local-command";
import { LocalFilesystemInterface } from "../interfaces/local-filesystem";
import { matchAttributes } from "./attribute-match";
import { no, yes, type BlueprintImplementation, type BlueprintView, type ResourceView } from "./blueprint";
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

function resourceRoot(config: LocalHostConfig, resource: ResourceView): string {
  return path.resolve(config.root, resource.resourceId);
}

function leaseRoot(config: LocalHostConfig, resource: ResourceView, leaseId: string): string {
  return path.join(resourceRoot(config, resource), "leases", leaseId);
}

export function localHostBlueprint(facts: MachineFacts): BlueprintImplementation<LocalHostConfig> {
  const offered = (config: LocalHostConfig) => ({ os: facts.os, arch: facts.arch, labels: config.labels });
  return {
    kind: "local-host",
    resourceType: "host",
    description: "The machine Drydock runs on; each lease gets its own working directory.",
    parseConfig: (raw) => parseOrThrow(localHostConfigSchema, raw ?? {}, "config"),
    defaultResourceLimit: () => 1,

    canEverAllocate(blueprint, lease) {
      return matchAttributes(lease.attributes, offered(blueprint.config));
    },
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
    async activateLease(blueprint, resource, lease) {
      const dir = leaseRoot(blueprint.config, resource, lease.leaseId);
      await mkdir(dir, { recursive: true });
      return { workingDirectory: dir };
    },
    async destroyLease(blueprint, resource, lease) {
      await rm(leaseRoot(blueprint.config, resource, lease.leaseId), { recursive: true, force: true });
    },
    async interfaces(blueprint, resource, lease) {
      const root = leaseRoot(blueprint.config, resource, lease.leaseId);
      return {
        command: new LocalCommandInterface({ root, allowShell: blueprint.config.allowShell }),
        filesystem: new LocalFilesystemInterface({ root }),
      };
    },
  };
}
