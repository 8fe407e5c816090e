import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fingerprintOf, keygen, startSshd } from "../sshd";

/**
 * The machine behind one emulated instance: a real OpenSSH sshd on the instance's own loopback
 * address, with a fresh ed25519 host key (as a new instance generates on first boot), accepting
 * the emulator's key pair. Stopping it kills sshd and every session it started.
 */
export interface InstanceHost {
  /** The public host key as cloud-init prints it: `ssh-ed25519 AAAA… root@<hostname>`. */
  hostKeyLine: string;
  /** `SHA256:…` of the host key, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  stop(): Promise<void>;
}

export interface InstanceHostOptions {
  /** A directory of its own (absolute). */
  dir: string;
  instanceId: string;
  address: string;
  port: number;
  authorizedKeysPath: string;
  hostname: string;
}

export async function startInstanceHost(options: InstanceHostOptions): Promise<InstanceHost> {
  await mkdir(options.dir, { recursive: true });
  const hostKeyPath = path.join(options.dir, "ssh_host_ed25519_key");
  await keygen(hostKeyPath);
  const [type, blob] = (await readFile(`${hostKeyPath}.pub`, "utf8")).trim().split(/\s+/);
  const fingerprint = await fingerprintOf(`${hostKeyPath}.pub`);
  const sshd = await startSshd({
    name: options.instanceId,
    dir: options.dir,
    address: options.address,
    port: options.port,
    hostKeyPath,
    authorizedKeysPath: options.authorizedKeysPath,
  });
  await sshd.start();
  return { hostKeyLine: `${type} ${blob} root@${options.hostname}`, fingerprint, stop: () => sshd.stop() };
}
