import { z } from "zod";
import { MAX_TTL_SECONDS } from "../domain/lease-ttl";

/** A directory on a remote host: absolute, no `..`, not `/` itself; trailing slashes dropped. */
export const remoteRoot = z
  .string()
  .startsWith("/", "an absolute path")
  .max(1024)
  .refine((p) => !p.includes("\0") && !p.split("/").includes(".."), "no `..` segments or NUL bytes")
  .refine((p) => p.split("/").filter(Boolean).length >= 1, "not the root directory")
  .transform((p) => p.replace(/\/+$/, ""));

/** What a host offers to lease attributes (os, arch, labels): matched against a lease's request. */
export const hostAttributes = z
  .strictObject({
    os: z.string().min(1).max(64).optional(),
    arch: z.string().min(1).max(64).optional(),
    labels: z.array(z.string().min(1).max(64)).max(64).default([]),
  })
  .default({ labels: [] });

/**
 * The settings every blueprint of hosts reached over SSH shares (static-hosts, ec2-host): where
 * leases live on a host, how a host is checked, and what a lease may do there. One definition,
 * so the two kinds take the same words with the same limits and defaults.
 */
export const sshHostSettings = {
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
};
