/**
 * Runs a working copy's git commands (git-commands.ts) on its host, and says what a failure
 * means for whom: the lease (a ref that does not exist, a merge that conflicts), the copy (a tree
 * that cannot be made clean: the copy is broken and destroyed, the lease goes elsewhere), or
 * nobody yet (the network, the host: try again).
 */
import { readFile } from "node:fs/promises";
import type { CommandInterface, ExecResult } from "../../interfaces/command-interface";
import { PermanentFailure, TemporaryFailure } from "../failures";
import { basicAuthorization, type GitAuth, type GitRun } from "./git-commands";
import type { WorkingCopyConfig } from "./working-copy-config";

/** Kept of git's stderr in a reason: its last lines say what went wrong. */
const REASON_CHARS = 600;

export class GitCommandError extends Error {
  constructor(
    readonly run: GitRun,
    readonly result: ExecResult,
  ) {
    super(`git ${gitVerb(run)} failed (${result.timedOut ? "timed out" : `exit ${result.exitCode ?? result.signal}`}): ${tail(result.stderr || result.stdout)}`);
    this.name = "GitCommandError";
  }
}

/** `fetch`, `merge`, …: the first word after git's options, for messages. */
function gitVerb(run: GitRun): string {
  const argv = run.argv[0] === "sh" ? run.argv.slice(4) : run.argv;
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === "-c") i++;
    else return argv[i]!;
  }
  return argv[0] ?? "";
}

export function tail(text: string): string {
  const trimmed = text.trim();
  return trimmed.length <= REASON_CHARS ? trimmed : `…${trimmed.slice(-REASON_CHARS)}`;
}

export async function runGit(command: CommandInterface, run: GitRun, timeoutMs: number): Promise<ExecResult> {
  return command.exec(run.argv, { cwd: run.cwd, env: run.env, ...(run.stdin !== undefined ? { stdin: run.stdin } : {}), timeoutMs });
}

/** Runs and throws GitCommandError unless it exits 0. */
export async function runGitOk(command: CommandInterface, run: GitRun, timeoutMs: number): Promise<ExecResult> {
  const result = await runGit(command, run, timeoutMs);
  if (result.exitCode !== 0) throw new GitCommandError(run, result);
  return result;
}

/** What git says when the thing asked for is not there, or access is refused: retrying will not help. */
const LEASE_FAULTS = [
  /couldn't find remote ref/i,
  /not our ref/i,
  /no such ref/i,
  /repository .* not found/i,
  /does not appear to be a git repository/i,
  /authentication failed/i,
  /could not read username/i,
  /the requested url returned error: 4\d\d/i,
  /access denied/i,
  /permission denied \(publickey/i,
  /host key verification failed/i,
  /invalid refspec/i,
  /not a valid object name/i,
];

/** A failed fetch of the lease's sources: permanent for the lease when git says so, else temporary. */
export function fetchFailure(error: GitCommandError, what: string): PermanentFailure | TemporaryFailure {
  const text = `${error.result.stderr}\n${error.result.stdout}`;
  const message = `cannot fetch ${what}: ${tail(error.result.stderr || error.result.stdout) || `exit ${error.result.exitCode}`}`;
  if (!error.result.timedOut && LEASE_FAULTS.some((p) => p.test(text))) return new PermanentFailure(message, "fetch_refused");
  return new TemporaryFailure(message, "fetch_failed");
}

/**
 * The copy could not be made clean: it is broken (the failure's scope makes the allocator break
 * the resource at once, src/allocator/resource-failures.ts) and never given to another lease.
 */
export function cleanFailure(resourceId: string, detail: string): PermanentFailure {
  return new PermanentFailure(`working copy ${resourceId} could not be cleaned: ${detail}`, "copy_unclean", { target: `copy:${resourceId}`, configuration: false });
}

/** How to authenticate a fetch of `url`: the first credential whose prefix covers it, its secret read now. */
export async function credentialFor(config: WorkingCopyConfig, url: string): Promise<GitAuth | null> {
  const credential = config.credentials.find((c) => covers(c.urlPrefix, url));
  if (!credential) return null;
  const ref = "token" in credential ? credential.token : credential.deployKey;
  let secret: string | undefined;
  if ("env" in ref) secret = process.env[ref.env];
  else secret = await readFile(ref.file, "utf8").catch(() => undefined);
  if (!secret?.trim()) {
    const where = "env" in ref ? `environment variable ${ref.env} is not set` : `${ref.file} cannot be read`;
    throw new PermanentFailure(`the credential for ${credential.urlPrefix}: ${where} in the Drydock service`, "credential_missing");
  }
  if ("deployKey" in credential) return { kind: "deploy-key", key: secret, knownHosts: credential.knownHosts.endsWith("\n") ? credential.knownHosts : `${credential.knownHosts}\n` };
  const token = secret.trim();
  if (/[\r\n]/.test(token)) throw new PermanentFailure(`the credential for ${credential.urlPrefix} holds a line break`, "credential_invalid");
  return { kind: "header", urlPrefix: credential.urlPrefix, header: basicAuthorization(credential.username, token) };
}

/** Git's own rule for `http.<url>.*`: same scheme and host, and the path a prefix segment by segment. */
export function covers(prefix: string, url: string): boolean {
  let p: URL;
  let u: URL;
  try {
    p = new URL(prefix);
    u = new URL(url);
  } catch {
    return false;
  }
  if (p.protocol !== u.protocol || p.host !== u.host || p.username !== u.username) return false;
  const base = p.pathname.replace(/\/+$/, "");
  return base === "" || u.pathname === base || u.pathname.startsWith(`${base}/`);
}
