/**
 * The config of an `ec2-host` blueprint: where to launch (region, optional endpoint), what (a
 * launch template, or an image and instance types), how to reach the instances over SSH, and
 * how many.
 *
 * Secrets never enter it. It is stored in BlueprintCreated/BlueprintUpdated events and returned
 * by the API: the SSH private key is a reference (`{"env": …}` or `{"file": …}`), and AWS
 * credentials come from the SDK's default provider chain (environment, shared profile, instance
 * role) or a named `profile`; the schema has no field that could hold an access key. `userData`
 * is stored as given: it is for boot scripts, not secrets (EC2 shows it to anyone who may
 * describe the instance anyway).
 */
import { z } from "zod";
import { parseOrThrow } from "../../domain/parse";
import { privateKeyRefSchema } from "../static-hosts-config";
import { hostAttributes, sshHostSettings } from "../ssh-host-settings";

const awsId = (prefix: string) => z.string().regex(new RegExp(`^${prefix}-[0-9a-zA-Z]{1,32}$`), `an id ${prefix}-…`);
const instanceType = z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+$/, "an instance type such as t3.micro");
const tagText = z.string().max(256);

export const ec2HostConfigSchema = z
  .strictObject({
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "an AWS region such as us-east-1"),
    /** Another endpoint than EC2's own: the emulator, or another partition. */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** A named profile of the shared config and credentials files; absent: the SDK's default chain. */
    profile: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "a profile name").optional(),

    launchTemplate: z
      .strictObject({
        id: awsId("lt").optional(),
        name: z.string().min(3).max(128).optional(),
        version: z.string().regex(/^(\d+|\$Latest|\$Default)$/, "a version number, $Latest or $Default").optional(),
      })
      .refine((t) => (t.id === undefined) !== (t.name === undefined), "exactly one of id and name")
      .optional(),
    imageId: awsId("ami").optional(),
    /** Tried in order: the next one when EC2 has no capacity for one (and, with a launch template, optional). */
    instanceTypes: z.array(instanceType).max(20).default([]),
    /** Tried in order when one has no capacity; empty: the default VPC's (or the launch template's). */
    subnetIds: z.array(awsId("subnet")).max(20).default([]),
    securityGroupIds: z.array(awsId("sg")).max(16).default([]),
    keyName: z.string().min(1).max(255).optional(),
    userData: z.string().max(16_384).optional(),
    iamInstanceProfile: z.union([z.strictObject({ arn: z.string().startsWith("arn:") }), z.strictObject({ name: z.string().min(1).max(128) })]).optional(),
    /** Spot first (every type and subnet), then on-demand when `spotFallbackToOnDemand`. */
    spot: z.boolean().default(false),
    spotFallbackToOnDemand: z.boolean().default(true),

    sshUser: z.string().regex(/^[A-Za-z_][A-Za-z0-9._-]{0,31}$/, "a user name"),
    sshPort: z.number().int().min(1).max(65535).default(22),
    privateKey: privateKeyRefSchema,
    /** Which of the instance's addresses Drydock connects to. */
    addressType: z.enum(["private", "public"]).default("private"),

    slots: z.number().int().min(1).max(1024).default(4),
    /** The blueprint's resource limit: instances alive at once, booting ones included. */
    maxInstances: z.number().int().min(1).max(10_000).default(5),
    /** Added to every instance, beside Drydock's own `drydock:*` tags. */
    tags: z.record(z.string().min(1).max(128).refine((k) => !k.startsWith("aws:") && !k.startsWith("drydock:"), "not aws:* or drydock:* (reserved)"), tagText).default({}),
    /** From launch to running, a host key on the console and SSH answering; past it the instance is refused and terminated. */
    bootTimeoutSeconds: z.number().min(1).max(3600).default(300),
    /** An instance with no lease this long is released, then terminated (checked at each health check). */
    idleTerminateSeconds: z.number().min(1).max(30 * 86_400).default(600),
    attributes: hostAttributes,

    ...sshHostSettings,
  })
  .superRefine((config, ctx) => {
    if (config.launchTemplate === undefined && config.imageId === undefined) ctx.addIssue({ code: "custom", path: ["imageId"], message: "an imageId, or a launchTemplate" });
    if (config.launchTemplate === undefined && config.instanceTypes.length === 0) ctx.addIssue({ code: "custom", path: ["instanceTypes"], message: "at least one instance type, or a launchTemplate" });
    if (new Set(config.instanceTypes).size !== config.instanceTypes.length) ctx.addIssue({ code: "custom", path: ["instanceTypes"], message: "listed twice" });
    if (new Set(config.subnetIds).size !== config.subnetIds.length) ctx.addIssue({ code: "custom", path: ["subnetIds"], message: "listed twice" });
    if (Object.keys(config.tags).length > 40) ctx.addIssue({ code: "custom", path: ["tags"], message: "at most 40 (EC2 allows 50, Drydock uses some)" });
  });
export type Ec2HostConfig = z.infer<typeof ec2HostConfigSchema>;

export function parseEc2HostConfig(raw: unknown): Ec2HostConfig {
  return parseOrThrow(ec2HostConfigSchema, raw ?? {}, "config");
}

/** What an instance of this blueprint offers to lease attributes. */
export function offeredAttributes(config: Ec2HostConfig): Record<string, unknown> {
  return {
    ...(config.attributes.os !== undefined ? { os: config.attributes.os } : {}),
    ...(config.attributes.arch !== undefined ? { arch: config.attributes.arch } : {}),
    labels: config.attributes.labels,
  };
}
