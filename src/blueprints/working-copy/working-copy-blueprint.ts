/**
 * `working-copy`: a git working copy of one repository, built on a lease of a host (Drydock's
 * working-copy blueprint). The copy is a resource that holds a `host` lease, from any host
 * blueprint it is authorized on (local, static SSH hosts, EC2), and runs git there through that
 * lease's command interface, so it works the same on every kind of host.
 *
 * Invariants:
 * - One lease at a time per copy (one lease slot): a lease's activation rewrites the tree.
 * - A copy serves only leases of the repository it was cloned from (its `repositoryURL`), and is
 *   reused across them: the allocator offers a lease the idle copies first
 *   (shouldAllocateSupplemental is false), and clones a new one only when none is free.
 * - Every lease activation fetches, checks out the exact commit, `reset --hard`, `clean -ffdx`
 *   and checks nothing is left over (copy-checkout.ts); a copy that cannot be made clean is
 *   broken at once and destroyed, and the lease goes back to pending to land on another copy.
 * - The copy lives in its host lease's directory: releasing or breaking the copy releases the
 *   host lease (the allocator does, for every resource that holds leases), whose teardown
 *   removes the directory; a host lease that ends under the copy breaks it, and its leases go
 *   back to pending or are released with the reason (src/allocator/steps/destroy-*.ts).
 * - Credentials are references in the config, read when a fetch needs them, and reach git on
 *   stdin only (git-commands.ts).
 */
import { DomainError, ValidationError } from "../../domain/errors";
import { no, yes, type BlueprintEffects, type BlueprintImplementation, type LeaseInterfaces, type LeaseView, type Verdict } from "../blueprint";
import { TemporaryFailure } from "../failures";
import { cloneCopy, prepareCheckout } from "./copy-checkout";
import { checkoutInterfaces } from "./copy-interfaces";
import { COPY_LEASE_MARKER, sweepProcesses } from "./copy-processes";
import { parseWorkingCopyRequest, type WorkingCopyRequest } from "./lease-request";
import { checkCredentialReferences, parseWorkingCopyConfig, type WorkingCopyConfig } from "./working-copy-config";

/** The lease's request, or why it is not one (naming the attribute). Pure. */
function requestOf(lease: LeaseView): WorkingCopyRequest | Verdict {
  try {
    return parseWorkingCopyRequest(lease.attributes);
  } catch (error) {
    if (error instanceof ValidationError) return no(error.message);
    throw error;
  }
}

const isRequest = (r: WorkingCopyRequest | Verdict): r is WorkingCopyRequest => "repositoryURL" in r;

/** A `file://` source is read only from the directories the operator listed. Pure. */
export function fileSourcesAllowed(config: WorkingCopyConfig, request: WorkingCopyRequest): Verdict {
  const sources = [request.target, ...request.merges];
  for (const [i, source] of sources.entries()) {
    if (!source.repositoryURL.startsWith("file:")) continue;
    const path = new URL(source.repositoryURL).pathname;
    const allowed = config.fileRepositoryRoots.some((root) => root === "/" || path === root || path.startsWith(`${root}/`));
    if (!allowed) {
      const field = i === 0 ? "attributes.repositoryURL" : `attributes.merges.${i - 1}.repositoryURL`;
      const roots = config.fileRepositoryRoots.length ? `its fileRepositoryRoots (${config.fileRepositoryRoots.join(", ")})` : "any directory (fileRepositoryRoots is empty)";
      return no(`${field}: ${path} is not under ${roots}`);
    }
  }
  return yes;
}

async function hostOf(effects: BlueprintEffects, resourceId: string): Promise<LeaseInterfaces> {
  let held: LeaseInterfaces[];
  try {
    held = await effects.heldLeaseInterfaces(resourceId);
  } catch (error) {
    // The host lease is not active (yet, or any more): the allocator breaks the copy if it ended.
    if (error instanceof DomainError) throw new TemporaryFailure(`its host lease cannot be used: ${error.message}`, "host_lease_unavailable");
    throw error;
  }
  if (held.length !== 1) throw new TemporaryFailure(`working copy ${resourceId} holds ${held.length} host leases, not one`, "host_lease_unavailable");
  return held[0]!;
}

export function workingCopyBlueprint(): BlueprintImplementation<WorkingCopyConfig> {
  return {
    kind: "working-copy",
    resourceType: "working-copy",
    description: "A git working copy at a commit (with merges on top), built on a leased host; reused across leases of one repository, cleaned between them.",
    parseConfig: parseWorkingCopyConfig,
    defaultResourceLimit: (config) => config.maxCopies,
    // A copy is its repository at a commit: a lease whose copy's host died gets an equal copy elsewhere.
    leasesMoveWhenBroken: true,

    canEverAllocate(blueprint, lease) {
      const request = requestOf(lease);
      return isRequest(request) ? fileSourcesAllowed(blueprint.config, request) : request;
    },

    planResource(blueprint, lease) {
      const request = requestOf(lease);
      if (!isRequest(request)) return request;
      return {
        attributes: { repositoryURL: request.repositoryURL },
        leaseSlots: 1,
        locks: [],
        heldLeases: [{ resourceType: "host", attributes: blueprint.config.hostAttributes, blueprintIds: blueprint.config.hostBlueprintIds }],
      };
    },

    canAcquire(_blueprint, resource, lease) {
      const request = requestOf(lease);
      if (!isRequest(request)) return request;
      if (resource.attributes.repositoryURL !== request.repositoryURL) return no(`a copy of ${String(resource.attributes.repositoryURL)}`);
      return resource.liveLeases >= 1 ? no("in use by another lease") : yes;
    },

    // An idle copy of the repository is worth more than a fresh clone.
    shouldAllocateSupplemental: () => false,

    async activateResource(blueprint, resource, effects) {
      const repositoryURL = String(resource.attributes.repositoryURL);
      const directory = await cloneCopy(await hostOf(effects, resource.resourceId), blueprint.config, repositoryURL);
      return { repositoryURL, directory };
    },

    // The copy is in its host lease's directory, removed by that lease's teardown once the
    // allocator releases it, right after this.
    async destroyResource() {},

    async activateLease(blueprint, resource, lease, effects) {
      const request = parseWorkingCopyRequest(lease.attributes);
      await prepareCheckout(await hostOf(effects, resource.resourceId), blueprint.config, resource.resourceId, request);
      return { workingDirectory: typeof resource.attributes.directory === "string" ? resource.attributes.directory : null };
    },

    // The lease's processes end; the next lease's activation cleans the tree; the copy stays for it.
    async destroyLease(_blueprint, resource, lease, effects) {
      let host: LeaseInterfaces;
      try {
        host = await hostOf(effects, resource.resourceId);
      } catch {
        // The host lease has ended: its own teardown ended every process under it.
        return { killedProcesses: [] };
      }
      return { killedProcesses: await sweepProcesses(host.command, COPY_LEASE_MARKER, lease.leaseId) };
    },

    async interfaces(_blueprint, resource, lease, effects) {
      return checkoutInterfaces(await hostOf(effects, resource.resourceId), resource.resourceId, lease.leaseId);
    },

    checkEnvironment: checkCredentialReferences,
  };
}
