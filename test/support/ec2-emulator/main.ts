/**
 * The EC2 emulator on its own, for trying the `ec2-host` blueprint without an AWS account:
 *
 *   npx tsx test/support/ec2-emulator/main.ts [--port 4566] [--ssh-port N] [--boot-delay-ms 0]
 *       [--key-out FILE] [--create-blueprint [--name ec2-emulated]]
 *
 * It prints its endpoint, the SSH user and port of its instances, and where the private key of
 * its key pair is (`--key-out` copies it there, mode 0600; default `.drydock/ec2-emulator.key`
 * when --create-blueprint is given). With --create-blueprint it also creates an `ec2-host`
 * blueprint pointed at itself through Drydock's API (DRYDOCK_URL, default
 * http://127.0.0.1:8080; the token in DRYDOCK_TOKEN, else `.drydock/admin.token`), and prints
 * the command that leases a host from it. Then it serves until interrupted (Ctrl-C terminates
 * every instance). Faults are set through /_emulator/faults (control.ts).
 */
import { chmod, copyFile, mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { sshdAvailable, sshdMissingMessage } from "../sshd";
import { startEc2Emulator, type Ec2Emulator } from "./emulator";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "4566" },
    "ssh-port": { type: "string" },
    "boot-delay-ms": { type: "string", default: "0" },
    "terminate-delay-ms": { type: "string", default: "0" },
    "key-out": { type: "string" },
    "create-blueprint": { type: "boolean", default: false },
    name: { type: "string", default: "ec2-emulated" },
  },
});

if (!sshdAvailable) {
  console.error(`the EC2 emulator's instances are sshd processes: ${sshdMissingMessage}`);
  process.exit(1);
}

const home = process.env.DRYDOCK_HOME ?? ".drydock";
// Its key pair and its instances' files live in the home the walk uses, not in /tmp: tsx kills
// the process when a Ctrl-C's cleanup is slow to start (its signal relay waits 30 ms), and what
// a killed run leaves is then the next run's to remove, here.
const runDir = path.resolve(home, "ec2-emulator", "run");
await rm(runDir, { recursive: true, force: true });
const emulator = await startEc2Emulator({
  dir: runDir,
  port: Number(values.port),
  sshPort: values["ssh-port"] === undefined ? undefined : Number(values["ssh-port"]),
  bootDelayMs: Number(values["boot-delay-ms"]),
  terminateDelayMs: Number(values["terminate-delay-ms"]),
});
/**
 * Where the blueprint --create-blueprint makes puts its instances' files: the emulated instances
 * share this machine's disk, so under the home the walk uses, not in a /tmp directory that
 * outlives them.
 */
const instancesRoot = values["create-blueprint"] ? path.resolve(home, "ec2-emulator", "instances") : null;
const stop = async () => {
  await emulator.close();
  // A terminated instance's disk goes with it, on EC2: the emulated ones' files too.
  if (instancesRoot) await rm(instancesRoot, { recursive: true, force: true });
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());

const keyOut = values["key-out"] ?? (values["create-blueprint"] ? path.join(home, "ec2-emulator.key") : undefined);
let keyPath = emulator.keyPair.privateKeyPath;
if (keyOut) {
  await mkdir(path.dirname(path.resolve(keyOut)), { recursive: true });
  await copyFile(keyPath, keyOut);
  await chmod(keyOut, 0o600);
  keyPath = path.resolve(keyOut);
}
console.log(`EC2 emulator on ${emulator.endpoint} (region ${emulator.region})`);
console.log(`instances: ssh ${emulator.sshUser}@<privateIpAddress> -p ${emulator.sshPort}, key pair ${emulator.keyPair.name}, private key ${keyPath}`);
console.log(`state: curl ${emulator.endpoint}/_emulator/state`);

if (values["create-blueprint"]) {
  try {
    const id = await untilDrydockAnswers(() => createBlueprint(emulator, values.name!, keyPath));
    console.log(`blueprint ${values.name} (${id}) created; lease a host from it with:`);
    console.log(`  npx drydock lease --type host --blueprint ${id} --wait`);
  } catch (error) {
    console.error(`could not create the blueprint: ${error instanceof Error ? error.message : String(error)}`);
    await stop();
  }
}

/** Drydock may still be starting (no admin token yet, nothing listening): wait for it, up to a minute. */
async function untilDrydockAnswers<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  let told = false;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? ((error as { cause?: NodeJS.ErrnoException }).cause?.code);
      if ((code !== "ENOENT" && code !== "ECONNREFUSED") || Date.now() > deadline) throw error;
      if (!told) console.log("waiting for Drydock to start…");
      told = true;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

async function createBlueprint(target: Ec2Emulator, name: string, privateKeyFile: string): Promise<string> {
  const url = process.env.DRYDOCK_URL ?? "http://127.0.0.1:8080";
  const token = process.env.DRYDOCK_TOKEN ?? (await readFile(path.join(home, "admin.token"), "utf8")).trim();
  const config = {
    region: target.region,
    endpoint: target.endpoint,
    imageId: "ami-0e0e0e0e0e0e0e0e0",
    instanceTypes: ["t3.micro", "t3.small"],
    keyName: target.keyPair.name,
    sshUser: target.sshUser,
    sshPort: target.sshPort,
    privateKey: { file: privateKeyFile },
    root: instancesRoot,
    maxInstances: 3,
    slots: 2,
    bootTimeoutSeconds: 60,
  };
  const res = await fetch(`${url}/v1/blueprints`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name, kind: "ec2-host", config }),
  });
  const body = (await res.json()) as { id?: string; error?: { message: string } };
  if (res.status !== 201 || !body.id) throw new Error(`POST ${url}/v1/blueprints: ${res.status} ${body.error?.message ?? JSON.stringify(body)}`);
  return body.id;
}
