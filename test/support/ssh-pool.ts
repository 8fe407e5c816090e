import type { Drydock } from "../../src/service/drydock";
import type { SshHost, SshHosts } from "./sshd";

/** The config of one host of a `static-hosts` blueprint, for the test sshd `host`. */
export function hostEntry(ssh: SshHosts, host: SshHost, keyEnv: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: host.name,
    address: host.address,
    port: host.port,
    user: ssh.user,
    privateKey: { env: keyEnv },
    hostKeyFingerprint: host.fingerprint,
    ...extra,
  };
}

/** Polls `check` until it returns something (not undefined/false), or fails naming `what`. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The resources of a blueprint, oldest first. */
export function resourcesOf(drydock: Drydock, blueprintId: string) {
  return drydock.database.db.selectFrom("resources").selectAll().where("blueprint_id", "=", blueprintId).orderBy("allocated_at").execute();
}

export async function leaseRow(drydock: Drydock, leaseId: string) {
  return drydock.database.db.selectFrom("leases").selectAll().where("lease_id", "=", leaseId).executeTakeFirstOrThrow();
}

export async function leaseEvents(drydock: Drydock, leaseId: string) {
  return drydock.store.readStream(`lease-${leaseId}`);
}
