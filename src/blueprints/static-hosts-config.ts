/**
 * The config of a `static-hosts` blueprint: a list of SSH hosts an operator runs.
 *
 * Secrets never enter it: a host's private key is a reference, `{ "env": "NAME" }` or
 * `{ "file": "/path" }`, resolved when a connection is opened. The config is stored in
 * BlueprintCreated/BlueprintUpdated events and returned by the API, so a key pasted in here
 * would end up in the log for ever; the schema refuses anything but a reference.
 */
import { z } from "zod";
import { MAX_TTL_SECONDS } from "../domain/lease-ttl";
import { parseOrThrow } from "../domain/parse";

/** `ssh-keygen -lf` prints SHA256 fingerprints as 43 characters of unpadded base64. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

export const privateKeyRefSchema = z.union([
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name") }),
  z.strictObject({ file: z.string().startsWith("/", "an absolute path").max(4096) }),
]);
export type PrivateKeyRef = z.infer<typeof privateKeyRefSchema>;

const remoteRoot = z
  .string()
  .startsWith("/", "an absolute path")
  .max(1024)
  .refine((p) => !p.includes("\0") && !p.split("/").includes(".."), "no `..` segments or NUL bytes")
  .refine((p) => p.split("/").filter(Boolean).length >= 1, "not the root directory")
  .transform((p) => p.replace(/\/+$/, ""));

export const staticHostSchema = z.strictObject({
  /** Unique in the blueprint; the resource's `host` attribute and its slot lock name it. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "letters, digits, '.', '_' and '-', up to 63"),
  address: z.string().min(1).max(253).regex(/^[A-Za-z0-9.:_-]+$/, "a host name or IP address"),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(/^[A-Za-z_][A-Za-z0-9._-]{0,31}$/, "a user name"),
  privateKey: privateKeyRefSchema,
  hostKeyFingerprint: z.string().regex(FINGERPRINT, 'SHA256:<base64> as `ssh-keygen -lf` prints it'),
  slots: z.number().int().min(1).max(1024).default(4),
  attributes: z
    .strictObject({
      os: z.string().min(1).max(64).optional(),
      arch: z.string().min(1).max(64).optional(),
      labels: z.array(z.string().min(1).max(64)).max(64).default([]),
    })
    .default({ labels: [] }),
  /** A drained host takes no new leases; its leases run out, then its resource is released. */
  drained: z.boolean().default(false),
});
export type StaticHost = z.infer<typeof staticHostSchema>;

export const staticHostsConfigSchema = z
  .strictObject({
    hosts: z.array(staticHostSchema).max(1000).default([]),
    /** Base directory on every host: `<root>/<resource>/leases/<lease>`. */
    root: remoteRoot.default("/tmp/drydock"),
    /** Run on activation and at each health check; a non-zero exit breaks the host's resource. */
    readyCommand: z.array(z.string().max(4096)).min(1).max(64).nullable().default(null),
    readyTimeoutSeconds: z.number().min(1).max(3600).default(60),
    healthIntervalSeconds: z.number().min(1).max(86_400).default(60),
    /** Failed health checks in a row before the resource is broken (one blip is forgiven). */
    healthFailuresBeforeBroken: z.number().int().min(1).max(100).default(2),
    connectTimeoutSeconds: z.number().min(0.5).max(300).default(10),
    allowShell: z.boolean().default(false),
    /**
     * The process limit (`ulimit -u`) every command runs under: a brake on fork bombs. The kernel
     * counts it per user, threads included, across all the user's processes on the host (every
     * lease there, and anything else the SSH user runs), not per lease or per command.
     */
    maxProcesses: z.number().int().min(8).max(4_194_304).default(512),
    /** Commands one lease may run at once; one more is refused with 429. */
    maxConcurrentCommands: z.number().int().min(1).max(1024).default(16),
    /** TTL of leases that name none and whose token has no default (src/domain/lease-ttl.ts); absent: the service's. */
    defaultLeaseTtlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).optional(),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.hosts.forEach((host, i) => {
      if (seen.has(host.name)) ctx.addIssue({ code: "custom", path: ["hosts", i, "name"], message: `duplicate host name ${JSON.stringify(host.name)}` });
      seen.add(host.name);
    });
  });
export type StaticHostsConfig = z.infer<typeof staticHostsConfigSchema>;

export function parseStaticHostsConfig(raw: unknown): StaticHostsConfig {
  return parseOrThrow(staticHostsConfigSchema, raw ?? {}, "config");
}

export function findHost(config: StaticHostsConfig, name: unknown): StaticHost | undefined {
  return typeof name === "string" ? config.hosts.find((h) => h.name === name) : undefined;
}

/** What a host offers to lease attributes: its name, and its os, arch and labels as configured. */
export function offeredAttributes(host: StaticHost): Record<string, unknown> {
  return {
    host: host.name,
    ...(host.attributes.os !== undefined ? { os: host.attributes.os } : {}),
    ...(host.attributes.arch !== undefined ? { arch: host.attributes.arch } : {}),
    labels: host.attributes.labels,
  };
}

/** The host's directory for one resource, and a lease's directory in it. */
export function resourceDir(config: StaticHostsConfig, resourceId: string): string {
  return `${config.root}/${resourceId}`;
}

export function leaseDir(config: StaticHostsConfig, resourceId: string, leaseId: string): string {
  return `${resourceDir(config, resourceId)}/leases/${leaseId}`;
}
