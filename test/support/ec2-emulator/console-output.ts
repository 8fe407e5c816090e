/**
 * What an instance's serial console shows, as an Ubuntu cloud image's cloud-init prints it: the
 * host key fingerprints (prefixed `ec2:`), then the public host keys between
 * `-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----`. The host key block
 * is what a careful client pins instead of trusting the key on first sight.
 */
export interface ConsoleContent {
  hostname: string;
  bootedAt: Date;
  /** null: the boot has not printed it (yet, or ever: the hidden-host-key fault). */
  hostKey: { line: string; fingerprint: string } | null;
}

export function consoleText(content: ConsoleContent): string {
  const lines = [
    "[    0.000000] Linux version 6.8.0-1018-aws (emulated by Drydock's EC2 emulator)",
    "[    1.204511] EXT4-fs (nvme0n1p1): mounted filesystem with ordered data mode.",
    `Cloud-init v. 24.1.3 running 'init' at ${content.bootedAt.toUTCString()}.`,
    "ci-info: ++++++++++++++++++++++++Net device info+++++++++++++++++++++++",
  ];
  if (content.hostKey) {
    const [type] = content.hostKey.line.split(" ");
    lines.push(
      "Generating public/private ed25519 key pair.",
      "ec2: ",
      "ec2: #############################################################",
      "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
      `ec2: 256 ${content.hostKey.fingerprint} root@${content.hostname} (${type === "ssh-ed25519" ? "ED25519" : type})`,
      "ec2: -----END SSH HOST KEY FINGERPRINTS-----",
      "ec2: #############################################################",
      "-----BEGIN SSH HOST KEY KEYS-----",
      content.hostKey.line,
      "-----END SSH HOST KEY KEYS-----",
    );
  }
  lines.push(`Cloud-init v. 24.1.3 finished at ${content.bootedAt.toUTCString()}. Datasource DataSourceEc2Local.`);
  return `${lines.join("\r\n")}\r\n`;
}
