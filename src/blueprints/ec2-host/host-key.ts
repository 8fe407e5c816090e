/**
 * The host key an instance prints on its console. cloud-init writes the public host keys between
 * `-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----` at first boot, on the
 * serial console that only the EC2 API can read: that is the key to pin, never one a host shows
 * on first contact. Pure: parses text.
 */
import { fingerprintOf } from "../../interfaces/ssh-target";

export interface ConsoleHostKey {
  type: string;
  /** `SHA256:…`, as `ssh-keygen -lf` prints it and ssh-target.ts checks it. */
  fingerprint: string;
}

const BEGIN = "-----BEGIN SSH HOST KEY KEYS-----";
const END = "-----END SSH HOST KEY KEYS-----";
/** Preferred first: the one ssh2 negotiates first among those an OpenSSH server offers. */
const PREFERENCE = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "ssh-rsa"];

/** Every key in the console's host key block(s); empty when there is none (yet). */
export function consoleHostKeys(consoleText: string): ConsoleHostKey[] {
  const keys: ConsoleHostKey[] = [];
  let inside = false;
  for (const raw of consoleText.split(/\r?\n/)) {
    const line = raw.replace(/^ec2:\s*/, "").trim();
    if (line === BEGIN) inside = true;
    else if (line === END) inside = false;
    else if (inside) {
      const [type, blob] = line.split(/\s+/);
      if (!type || !blob || !/^[A-Za-z0-9+/]+=*$/.test(blob)) continue;
      const bytes = Buffer.from(blob, "base64");
      // The blob names its own type first: a line whose two halves disagree is not a key.
      if (bytes.length < 4 || bytes.readUInt32BE(0) + 4 > bytes.length || bytes.subarray(4, 4 + bytes.readUInt32BE(0)).toString() !== type) continue;
      keys.push({ type, fingerprint: fingerprintOf(bytes) });
    }
  }
  return keys;
}

/** The key to pin: ed25519 when the instance has one, else the first by preference. */
export function hostKeyToPin(keys: readonly ConsoleHostKey[]): ConsoleHostKey | null {
  for (const type of PREFERENCE) {
    const key = keys.find((k) => k.type === type);
    if (key) return key;
  }
  return keys[0] ?? null;
}
