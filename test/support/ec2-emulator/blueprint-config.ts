import type { Ec2Emulator } from "./emulator";

/**
 * An `ec2-host` blueprint config that launches on this emulator, its private key read from the
 * environment variable `keyEnv` (a reference, as in production). `extra` overrides or adds fields.
 */
export function emulatorHostConfig(emulator: Ec2Emulator, keyEnv: string, root: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    region: emulator.region,
    endpoint: emulator.endpoint,
    imageId: "ami-0123456789abcdef0",
    instanceTypes: ["t3.micro"],
    subnetIds: ["subnet-0aaa1111"],
    securityGroupIds: ["sg-0bbb2222"],
    keyName: emulator.keyPair.name,
    sshUser: emulator.sshUser,
    sshPort: emulator.sshPort,
    privateKey: { env: keyEnv },
    root,
    // Generous: two cores shared with other test files make sshd slow to start at times.
    bootTimeoutSeconds: 60,
    connectTimeoutSeconds: 10,
    ...extra,
  };
}
