/**
 * Pure decisions of the `ec2-host` blueprint: the shapes to try in order, the RunInstances
 * request for one, and how long to wait between polls. Ids, time and randomness come in as data.
 */
import type { LaunchRequest } from "./ec2-cloud";
import type { Ec2HostConfig } from "./ec2-host-config";

/** Drydock's own tags on every instance: what the reaper (and an operator) finds them by. */
export const TAGS = {
  resource: "drydock:resource",
  blueprint: "drydock:blueprint",
  installation: "drydock:installation",
} as const;

export interface LaunchShape {
  /** Absent: the launch template's. */
  instanceType?: string;
  /** Absent: the default VPC's (or the launch template's). */
  subnetId?: string;
  spot: boolean;
}

/**
 * Every shape, most preferred first: each instance type in each subnet (types first: a type
 * short in one zone is often short in all), spot before on-demand when spot is on.
 */
export function launchShapes(config: Ec2HostConfig): LaunchShape[] {
  const types: (string | undefined)[] = config.instanceTypes.length > 0 ? config.instanceTypes : [undefined];
  const subnets: (string | undefined)[] = config.subnetIds.length > 0 ? config.subnetIds : [undefined];
  const markets = config.spot ? (config.spotFallbackToOnDemand ? [true, false] : [true]) : [false];
  const shapes: LaunchShape[] = [];
  for (const spot of markets) for (const instanceType of types) for (const subnetId of subnets) shapes.push({ instanceType, subnetId, spot });
  return shapes;
}

export function describeShape(shape: LaunchShape): string {
  return [shape.instanceType ?? "the template's type", shape.subnetId ? `in ${shape.subnetId}` : null, shape.spot ? "(spot)" : null].filter(Boolean).join(" ");
}

export interface LaunchIdentity {
  resourceId: string;
  blueprintId: string;
  installationId: string;
}

/**
 * The request for one shape. Its ClientToken is the resource id whatever the shape: EC2 launches
 * at most one instance per token, so neither a retry after a lost answer nor a crash between
 * RunInstances and the event can start a second instance for one resource.
 */
export function launchRequest(config: Ec2HostConfig, shape: LaunchShape, id: LaunchIdentity): LaunchRequest {
  return {
    clientToken: id.resourceId,
    imageId: config.imageId,
    instanceType: shape.instanceType,
    subnetId: shape.subnetId,
    securityGroupIds: config.securityGroupIds,
    keyName: config.keyName,
    userData: config.userData,
    launchTemplate: config.launchTemplate,
    iamInstanceProfile: config.iamInstanceProfile,
    spot: shape.spot,
    tags: {
      Name: `drydock-${id.resourceId}`,
      ...config.tags,
      [TAGS.resource]: id.resourceId,
      [TAGS.blueprint]: id.blueprintId,
      [TAGS.installation]: id.installationId,
    },
  };
}

/**
 * The wait before poll number `attempt` (0-based): doubling from 250 ms up to 5 s, with full
 * jitter over its upper half so that many allocators polling one account do not march in step.
 * `random` is in [0, 1).
 */
export function pollDelayMs(attempt: number, random: number): number {
  const ceiling = Math.min(5_000, 250 * 2 ** Math.min(attempt, 5));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** When the instance must be up (running, host key shown, SSH answering), from its launch time. */
export function bootDeadline(launchTime: Date, config: Pick<Ec2HostConfig, "bootTimeoutSeconds">): Date {
  return new Date(launchTime.getTime() + config.bootTimeoutSeconds * 1000);
}
