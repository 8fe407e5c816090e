/**
 * Opening an SSH connection to a host with its host key pinned.
 *
 * Invariants:
 * - The host key is checked before authentication: ssh2 calls hostVerifier with the key's wire
 *   blob, whose SHA-256 in unpadded base64 is what `ssh-keygen -lf` prints. A mismatch refuses
 *   the connection (no credentials are offered to an impostor) and says which key was expected
 *   and which one the host showed. Phabricator's Drydock turned this check off; we do not.
 * - The private key is only ever held in memory for the connection; no message built here
 *   contains it (ssh2's own parse errors do not either).
 * - Every failure is an SshConnectionError (an InterfaceUnavailableError, so 503 at the API)
 *   with a kind, which the blueprint turns into a temporary or permanent provider failure.
 */
import { createHash } from "node:crypto";
import { Client } from "ssh2";
import { InterfaceUnavailableError } from "../domain/errors";

export interface SshTarget {
  /** The host's name in its blueprint, for messages. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Key material (OpenSSH or PEM format). Never logged, never put in an error. */
  privateKey: Buffer;
  /** `SHA256:<base64>` as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  connectTimeoutMs: number;
}

export type SshFailureKind = "host_key_mismatch" | "auth_failed" | "bad_key" | "unreachable" | "timeout" | "lost";

export class SshConnectionError extends InterfaceUnavailableError {
  constructor(
    readonly kind: SshFailureKind,
    message: string,
    readonly host: string,
  ) {
    super(message, { kind, host });
  }
}

/** The OpenSSH SHA-256 fingerprint of a public key blob. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** Fingerprints compare without base64 padding (ssh-keygen prints none; some tools add it). */
export function sameFingerprint(a: string, b: string): boolean {
  return a.replace(/=+$/, "") === b.replace(/=+$/, "");
}

export function describeTarget(target: Pick<SshTarget, "name" | "address" | "port">): string {
  return `${target.name} (${target.address}:${target.port})`;
}

export interface ConnectOptions {
  /** Keepalives let a pooled connection notice a host that vanished without closing the socket. */
  keepaliveIntervalMs?: number;
}

export function connectSsh(target: SshTarget, options: ConnectOptions = {}): Promise<Client> {
  const where = describeTarget(target);
  return new Promise((resolve, reject) => {
    const client = new Client();
    let presented: string | null = null;
    let settled = false;
    const fail = (error: SshConnectionError) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(error);
    };
    client.once("ready", () => {
      if (settled) return;
      settled = true;
      resolve(client);
    });
    client.on("error", (err: Error & { level?: string; code?: string }) => {
      if (presented !== null && !sameFingerprint(presented, target.hostKeyFingerprint)) {
        fail(
          new SshConnectionError(
            "host_key_mismatch",
            `the host key of ${where} did not match its pinned fingerprint: expected ${target.hostKeyFingerprint}, got ${presented}`,
            target.name,
          ),
        );
      } else if (err.level === "client-authentication") {
        fail(new SshConnectionError("auth_failed", `authentication as ${target.user} on ${where} failed: the host does not accept the key`, target.name));
      } else if (err.level === "client-timeout") {
        fail(new SshConnectionError("timeout", `cannot connect to ${where}: no SSH handshake within ${target.connectTimeoutMs} ms`, target.name));
      } else if (settled) {
        // After ready: the pool watches 'close'; nothing to reject here.
      } else {
        fail(new SshConnectionError("unreachable", `cannot connect to ${where}: ${err.code ?? err.message}`, target.name));
      }
    });
    client.once("close", () => {
      fail(new SshConnectionError("lost", `the connection to ${where} closed before it was ready`, target.name));
    });
    try {
      client.connect({
        host: target.address,
        port: target.port,
        username: target.user,
        privateKey: target.privateKey,
        readyTimeout: target.connectTimeoutMs,
        keepaliveInterval: options.keepaliveIntervalMs ?? 0,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          presented = fingerprintOf(key);
          return sameFingerprint(presented, target.hostKeyFingerprint);
        },
      });
    } catch (error) {
      // ssh2 throws here for a key it cannot parse; its message names the format, not the key.
      fail(new SshConnectionError("bad_key", `the private key for ${where} is unusable: ${(error as Error).message}`, target.name));
    }
  });
}
