import { BlueprintRegistry } from "../blueprints/blueprint-registry";
import type { BlueprintImplementation } from "../blueprints/blueprint";
import { ec2HostBlueprint } from "../blueprints/ec2-host/ec2-host-blueprint";
import { localHostBlueprint, thisMachine } from "../blueprints/local-host-blueprint";
import { staticHostsBlueprint } from "../blueprints/static-hosts-blueprint";
import { workingCopyBlueprint } from "../blueprints/working-copy/working-copy-blueprint";
import { LocalSandbox } from "../sandbox/local-sandbox";
import type { ImplementationOf } from "./virtual-pool";

/**
 * The service's blueprint kinds (src/service/drydock.ts builds the same list), for their pure
 * predicates only: the simulation never calls an effect, so nothing here may reach the outside.
 * The local host's sandbox is taken as available (the recorded run served its leases); EC2's
 * cloud and installation id throw if anything ever asked for them.
 */
export function simulationRegistry(extra: readonly BlueprintImplementation[] = []): BlueprintRegistry {
  const inert = (what: string) => () => {
    throw new Error(`the simulation has no ${what}`);
  };
  const sandbox = new LocalSandbox({ unavailable: null, user: null, cgroupRoot: null, readOnlyPaths: [] });
  return new BlueprintRegistry([
    localHostBlueprint(thisMachine(), { sandbox, hidden: [] }),
    staticHostsBlueprint(),
    workingCopyBlueprint(),
    ec2HostBlueprint({ cloud: inert("cloud"), installationId: inert("installation id"), clock: { now: inert("clock") }, random: inert("randomness") }),
    ...extra,
  ]);
}

export function implementationsOf(registry: BlueprintRegistry): ImplementationOf {
  return (kind) => (registry.has(kind) ? registry.get(kind) : undefined);
}
