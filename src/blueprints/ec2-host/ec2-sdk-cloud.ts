/**
 * The EC2 ports (ec2-cloud.ts) over `@aws-sdk/client-ec2`. The only module of the blueprint that
 * imports the SDK.
 *
 * Credentials: the SDK's default provider chain (environment, shared config and credentials
 * files, SSO, the instance's role), or a named profile. Nothing here reads, keeps or prints them;
 * errors carry EC2's code and message only (EC2 never echoes a secret in them).
 */
import type { EC2Client, Filter, Instance, RunInstancesCommandInput } from "@aws-sdk/client-ec2";
import { Ec2ApiError, type Ec2Cloud, type Ec2Location, type InstanceInfo, type InstanceQuery, type InstanceStateName, type LaunchRequest } from "./ec2-cloud";

export interface SdkCloudOptions {
  /** Attempts per call, the SDK's own retries included (default 3: the SDK's standard mode). */
  maxAttempts?: number;
  /** Static credentials, for tests against the emulator only; production leaves them to the chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * The SDK, loaded when a blueprint first calls EC2: it takes about a second to load, which every
 * start of the service (and of the CLI) would otherwise pay, with or without an ec2-host blueprint.
 */
type Sdk = typeof import("@aws-sdk/client-ec2");
let sdkLoading: Promise<Sdk> | undefined;
const loadSdk = (): Promise<Sdk> => (sdkLoading ??= import("@aws-sdk/client-ec2"));

export function sdkEc2Cloud(location: Ec2Location, options: SdkCloudOptions = {}): Ec2Cloud & { close(): void } {
  let made: EC2Client | undefined;
  const clientOf = (sdk: Sdk) =>
    (made ??= new sdk.EC2Client({
      region: location.region,
      ...(location.endpoint ? { endpoint: location.endpoint } : {}),
      ...(location.profile ? { profile: location.profile } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      maxAttempts: options.maxAttempts ?? 3,
    }));
  const call = async <T>(fn: (sdk: Sdk, client: EC2Client) => Promise<T>): Promise<T> => {
    const sdk = await loadSdk();
    try {
      return await fn(sdk, clientOf(sdk));
    } catch (error) {
      throw asEc2Error(error);
    }
  };

  return {
    async runInstance(request) {
      const out = await call((sdk, client) => client.send(new sdk.RunInstancesCommand(runInstancesInput(request))));
      const instance = out.Instances?.[0];
      if (!instance) throw new Ec2ApiError("InternalError", "RunInstances answered no instance", null);
      return infoOf(instance);
    },

    async describeInstances(query: InstanceQuery) {
      const filters: Filter[] = [
        ...Object.entries(query.tags ?? {}).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
        ...(query.states ? [{ Name: "instance-state-name", Values: query.states }] : []),
      ];
      const found: InstanceInfo[] = [];
      let nextToken: string | undefined;
      do {
        const out = await call((sdk, client) =>
          client.send(
            new sdk.DescribeInstancesCommand({
              ...(query.instanceIds ? { InstanceIds: query.instanceIds } : { MaxResults: 1000 }),
              ...(filters.length > 0 ? { Filters: filters } : {}),
              ...(nextToken ? { NextToken: nextToken } : {}),
            }),
          ),
        );
        for (const reservation of out.Reservations ?? []) for (const instance of reservation.Instances ?? []) found.push(infoOf(instance));
        nextToken = out.NextToken;
      } while (nextToken);
      return found;
    },

    async consoleOutput(instanceId) {
      const out = await call((sdk, client) => client.send(new sdk.GetConsoleOutputCommand({ InstanceId: instanceId, Latest: false })));
      return out.Output ? Buffer.from(out.Output, "base64").toString("utf8") : null;
    },

    async terminateInstances(instanceIds) {
      const out = await call((sdk, client) => client.send(new sdk.TerminateInstancesCommand({ InstanceIds: instanceIds })));
      return (out.TerminatingInstances ?? []).map((c) => ({ instanceId: c.InstanceId ?? "", state: (c.CurrentState?.Name ?? "shutting-down") as InstanceStateName }));
    },

    close: () => made?.destroy(),
  };
}

export function runInstancesInput(request: LaunchRequest): RunInstancesCommandInput {
  return {
    MinCount: 1,
    MaxCount: 1,
    ClientToken: request.clientToken,
    ...(request.imageId ? { ImageId: request.imageId } : {}),
    ...(request.instanceType ? { InstanceType: request.instanceType as RunInstancesCommandInput["InstanceType"] } : {}),
    ...(request.subnetId ? { SubnetId: request.subnetId } : {}),
    ...(request.securityGroupIds.length > 0 ? { SecurityGroupIds: request.securityGroupIds } : {}),
    ...(request.keyName ? { KeyName: request.keyName } : {}),
    ...(request.userData !== undefined ? { UserData: Buffer.from(request.userData, "utf8").toString("base64") } : {}),
    ...(request.launchTemplate
      ? {
          LaunchTemplate: {
            ...(request.launchTemplate.id ? { LaunchTemplateId: request.launchTemplate.id } : {}),
            ...(request.launchTemplate.name ? { LaunchTemplateName: request.launchTemplate.name } : {}),
            ...(request.launchTemplate.version ? { Version: request.launchTemplate.version } : {}),
          },
        }
      : {}),
    ...(request.iamInstanceProfile ? { IamInstanceProfile: "arn" in request.iamInstanceProfile ? { Arn: request.iamInstanceProfile.arn } : { Name: request.iamInstanceProfile.name } } : {}),
    ...(request.spot ? { InstanceMarketOptions: { MarketType: "spot", SpotOptions: { SpotInstanceType: "one-time", InstanceInterruptionBehavior: "terminate" } } } : {}),
    TagSpecifications: [{ ResourceType: "instance", Tags: Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value })) }],
  };
}

function infoOf(instance: Instance): InstanceInfo {
  return {
    instanceId: instance.InstanceId ?? "",
    state: (instance.State?.Name ?? "pending") as InstanceStateName,
    stateReason: instance.StateReason?.Message ?? instance.StateReason?.Code ?? null,
    privateIpAddress: instance.PrivateIpAddress ?? null,
    publicIpAddress: instance.PublicIpAddress ?? null,
    launchTime: instance.LaunchTime ?? null,
    instanceType: instance.InstanceType ?? null,
    subnetId: instance.SubnetId ?? null,
    spot: instance.InstanceLifecycle === "spot",
    tags: Object.fromEntries((instance.Tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key!, t.Value ?? ""])),
  };
}

/**
 * An SDK error as EC2's code and message. A service error has a `name` that is EC2's code and
 * an HTTP status; anything else (a dropped connection, a timeout) is `RequestLost`: the call
 * may or may not have taken effect, which the ClientToken makes safe to retry.
 */
export function asEc2Error(error: unknown): Ec2ApiError {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; $fault?: string };
  const status = e?.$metadata?.httpStatusCode ?? null;
  if (status !== null && typeof e.name === "string" && e.name !== "Error") return new Ec2ApiError(e.name, e.message ?? e.name, status);
  // No credentials anywhere in the chain: nothing was sent, and retrying will not find any.
  if (e?.name === "CredentialsProviderError") return new Ec2ApiError("NoCredentials", `no AWS credentials for EC2: ${e.message ?? ""}`.trim(), null);
  const detail = error instanceof Error ? `${(error as NodeJS.ErrnoException).code ?? error.name}: ${error.message}` : String(error);
  return new Ec2ApiError("RequestLost", `no answer from EC2 (${detail})`, null);
}

/** One SDK client per location (region, endpoint, profile), for the service's lifetime. */
export function sdkEc2Clouds(options: SdkCloudOptions = {}): { cloud(location: Ec2Location): Ec2Cloud; close(): void } {
  const clients = new Map<string, Ec2Cloud & { close(): void }>();
  return {
    cloud(location) {
      const key = JSON.stringify([location.region, location.endpoint ?? null, location.profile ?? null]);
      let cloud = clients.get(key);
      if (!cloud) clients.set(key, (cloud = sdkEc2Cloud(location, options)));
      return cloud;
    },
    close() {
      for (const cloud of clients.values()) cloud.close();
      clients.clear();
    },
  };
}
