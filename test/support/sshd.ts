import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./free-port";

/**
 * Real OpenSSH servers for the SSH tests: one `sshd` per host on 127.0.0.1, each on its own
 * port with its own ed25519 host key, all accepting one client key for the current user.
 *
 * sshd re-executes itself for each connection, so every path in its config (and -f) is
 * absolute; StrictModes is off because the keys live in a temp directory. `/run/sshd` (the
 * privilege separation directory) must exist; .ci/run creates it too. SSHD_LOGLEVEL=VERBOSE (or
 * DEBUG) passes sshd's own log through to stderr when a test needs looking into.
 */
export const SSHD = "/usr/sbin/sshd";
export const sshdAvailable = existsSync(SSHD) && existsSync("/usr/bin/ssh-keygen");
export const sshdMissingMessage = `${SSHD} is missing: install it with \`apt-get install -y openssh-server\` (.ci/run does) to run the SSH tests`;

const run = promisify(execFile);

export interface SshHost {
  name: string;
  address: string;
  port: number;
  /** `SHA256:…` of the host key, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** Kills sshd and every session it started: the host is down. */
  stop(): Promise<void>;
  /** Starts it again, same port, same key. */
  start(): Promise<void>;
}

export interface SshHosts {
  hosts: SshHost[];
  user: string;
  clientKeyPath: string;
  clientKey: string;
  /** A fingerprint no host has. */
  strangerFingerprint: string;
  close(): Promise<void>;
}

export async function startSshHosts(count: number, prefix = "host"): Promise<SshHosts> {
  await mkdir("/run/sshd", { recursive: true });
  const dir = await mkdtemp(path.join(tmpdir(), "drydock-sshd-"));
  const clientKeyPath = path.join(dir, "client_key");
  await keygen(clientKeyPath);
  await writeFile(path.join(dir, "authorized_keys"), await readFile(`${clientKeyPath}.pub`));
  await keygen(path.join(dir, "stranger_key"));
  const strangerFingerprint = await fingerprintOf(path.join(dir, "stranger_key.pub"));

  const hosts: SshHost[] = [];
  for (let i = 0; i < count; i++) hosts.push(await startHost(dir, `${prefix}-${String.fromCharCode(97 + i)}`));
  return {
    hosts,
    user: userInfo().username,
    clientKeyPath,
    clientKey: await readFile(clientKeyPath, "utf8"),
    strangerFingerprint,
    async close() {
      await Promise.all(hosts.map((h) => h.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startHost(base: string, name: string) {
  const dir = path.join(base, name);
  await mkdir(dir);
  const hostKey = path.join(dir, "host_key");
  await keygen(hostKey);
  const fingerprint = await fingerprintOf(`${hostKey}.pub`);
  const port = await freePort();
  const server = await startSshd({ name, dir, address: "127.0.0.1", port, hostKeyPath: hostKey, authorizedKeysPath: path.join(base, "authorized_keys") });
  await server.start();
  return { name, address: "127.0.0.1", port, fingerprint, start: () => server.start(), stop: () => server.stop() };
}

export interface SshdOptions {
  /** For log lines. */
  name: string;
  /** A directory of its own for its config and pid file (absolute). */
  dir: string;
  /** The address it listens on: any of 127/8 on Linux, which routes all of it to lo. */
  address: string;
  port: number;
  /** Absolute paths: sshd re-executes itself and would not find relative ones. */
  hostKeyPath: string;
  authorizedKeysPath: string;
}

export interface SshdProcess {
  /** Starts it (again): same address, port and key. Resolves once it accepts connections. */
  start(): Promise<void>;
  /** Kills sshd and every session it started. */
  stop(): Promise<void>;
  readonly running: boolean;
}

/** Writes the config of one sshd and starts it (the static hosts and the EC2 emulator's instances). */
export async function startSshd(options: SshdOptions): Promise<SshdProcess> {
  await mkdir("/run/sshd", { recursive: true });
  const { name, dir, address, port } = options;
  const config = path.join(dir, "sshd_config");
  await writeFile(
    config,
    [
      `ListenAddress ${address}:${port}`,
      `HostKey ${options.hostKeyPath}`,
      `AuthorizedKeysFile ${options.authorizedKeysPath}`,
      `PidFile ${path.join(dir, "sshd.pid")}`,
      "StrictModes no",
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PrintMotd no",
      "UseDNS no",
      "MaxStartups 100",
      `LogLevel ${process.env.SSHD_LOGLEVEL ?? "ERROR"}`,
      "Subsystem sftp internal-sftp",
      // bash sources ~/.bashrc for every SSH command when SHLVL is unset (Debian's
      // SSH_SOURCE_BASHRC); this machine's root rc costs ~0.2 s of CPU per command. Commands
      // still run under the login shell, as on a real host.
      "SetEnv SHLVL=1",
      "",
    ].join("\n"),
  );
  let child: ChildProcess | undefined;
  return {
    get running() {
      return child !== undefined && child.exitCode === null;
    },
    async start() {
      // -D: stay in the foreground as our child; -e: log to stderr (kept quiet at ERROR).
      const started = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
      child = started;
      let log = "";
      started.stderr?.on("data", (b: Buffer) => {
        log += b.toString();
        if (process.env.SSHD_LOGLEVEL) process.stderr.write(`[sshd ${name}] ${b.toString()}`);
      });
      await waitForPort(address, port, () => (started.exitCode !== null ? `sshd exited: ${log}` : null));
    },
    async stop() {
      const pid = child?.pid;
      if (pid === undefined || child?.exitCode !== null) return;
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      // Sessions are sshd's children in their own sessions: kill the tree by parent pid, not by group.
      for (const p of [...(await descendantsOf(pid)), pid]) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await exited;
      child = undefined;
    },
  };
}

export async function keygen(file: string): Promise<void> {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "drydock-test", "-f", file]);
}

export async function fingerprintOf(pubFile: string): Promise<string> {
  const { stdout } = await run("ssh-keygen", ["-lf", pubFile]);
  const fp = stdout.split(/\s+/)[1];
  if (!fp?.startsWith("SHA256:")) throw new Error(`unexpected ssh-keygen -lf output: ${stdout}`);
  return fp;
}

async function waitForPort(address: string, port: number, failed: () => string | null): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const problem = failed();
    if (problem) throw new Error(problem);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, address);
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${address}:${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every process below `root`, from /proc (children, grandchildren, …). */
export async function descendantsOf(root: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      // The command name is in parentheses and may contain spaces: ppid is the 2nd field after it.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), pid]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const child of parents.get(pid) ?? []) {
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

/** Whether a process still exists (and is not a zombie). */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
