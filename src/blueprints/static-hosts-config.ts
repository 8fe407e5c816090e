/**
 * The config of a `static-hosts` blueprint: a list of SSH hosts an operator runs.
 *
 * Secrets never enter it: a host's private key is a reference, `{ "env": "NAME" }` or
 * `{ "file": "/path" }`, resolved when a connection is opened. The config is stored in
 * BlueprintCreated/BlueprintUpdated events and returned by the API, so a key pasted in here
 * would end up in the log for ever; the schema refuses anything but a reference.
 */
import { z } from "zod";
import { parseOrThrow } from "../domain/parse";
import { hostAttributes, sshHostSettings } from "./ssh-host-settings";

/** `ssh-keygen -lf` prints SHA256 fingerprints as 43 characters of unpadded base64. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

export const privateKeyRefSchema = z.union([
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name") }),
  z.strictObject({ file: z.string().startsWith("/", "an absolute path").max(4096) }),
]);
export type PrivateKeyRef = z.infer<typeof privateKeyRefSchema>;

export const staticHostSchema = z.strictObject({
  /** Unique in the blueprint; the resource's `host` attribute and its slot lock name it. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "letters, digits, '.', '_' and '-', up to 63"),
  address: z.string().min(1).max(253).regex(/^[A-Za-z0-9.:_-]+$/, "a host name or IP address"),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(/^[A-Za-z_][A-Za-z0-9._-]{0,31}$/, "a user name"),
  privateKey: privateKeyRefSchema,
  hostKeyFingerprint: z.string().regex(FINGERPRINT, 'SHA256:<base64> as `ssh-keygen -lf` prints it'),
  slots: z.number().int().min(1).max(1024).default(4),
  attributes: hostAttributes,
  /** A drained host takes no new leases; its leases run out, then its resource is released. */
  drained: z.boolean().default(false),
});
export type StaticHost = z.infer<typeof staticHostSchema>;

export const staticHostsConfigSchema = z
  .strictObject({
    hosts: z.array(staticHostSchema).max(1000).default([]),
    ...sshHostSettings,
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
