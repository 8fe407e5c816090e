/**
 * What the `ec2-host` blueprint needs of EC2, as plain data: one small interface per kind of
 * I/O. The blueprint's logic depends on these, never on the SDK; ec2-sdk-cloud.ts implements
 * them over `@aws-sdk/client-ec2`.
 */
export type InstanceStateName = "pending" | "running" | "shutting-down" | "terminated" | "stopping" | "stopped";

export interface InstanceInfo {
  instanceId: string;
  state: InstanceStateName;
  /** EC2's reason for the last state change (Server.InternalError, Client.UserInitiatedShutdown…). */
  stateReason: string | null;
  privateIpAddress: string | null;
  publicIpAddress: string | null;
  launchTime: Date | null;
  instanceType: string | null;
  subnetId: string | null;
  spot: boolean;
  tags: Record<string, string>;
}

export interface LaunchRequest {
  /** Idempotency: EC2 launches at most once per token (Drydock uses the resource id). */
  clientToken: string;
  imageId?: string;
  instanceType?: string;
  subnetId?: string;
  securityGroupIds: string[];
  keyName?: string;
  /** Plain text; the adapter base64-encodes it as RunInstances wants. */
  userData?: string;
  launchTemplate?: { id?: string; name?: string; version?: string };
  iamInstanceProfile?: { arn: string } | { name: string };
  spot: boolean;
  tags: Record<string, string>;
}

export interface InstanceLauncher {
  runInstance(request: LaunchRequest): Promise<InstanceInfo>;
}

export interface InstanceQuery {
  instanceIds?: string[];
  /** Every tag must match. */
  tags?: Record<string, string>;
  states?: InstanceStateName[];
}

export interface InstanceReader {
  describeInstances(query: InstanceQuery): Promise<InstanceInfo[]>;
  /** The console text (decoded), or null while there is none. */
  consoleOutput(instanceId: string): Promise<string | null>;
}

export interface InstanceTerminator {
  /** Answers each instance's state after the call (shutting-down or terminated). */
  terminateInstances(instanceIds: string[]): Promise<{ instanceId: string; state: InstanceStateName }[]>;
}

export type Ec2Cloud = InstanceLauncher & InstanceReader & InstanceTerminator;

/** Where a blueprint's EC2 is: the parts of its config that choose a client. */
export interface Ec2Location {
  region: string;
  endpoint?: string;
  profile?: string;
}

/**
 * An error EC2 answered (its code and message), or a request that got no answer (code
 * `RequestLost`: the connection dropped, or timed out; whether the call took effect is unknown).
 */
export class Ec2ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number | null,
  ) {
    super(message);
    this.name = "Ec2ApiError";
  }
}
