/**
 * What a copy's activation and each lease's activation do on the host, in order.
 *
 * Copy (resource) activation: `git init repo`, the fixed config, every branch fetched.
 *
 * Lease activation, every time, whoever had the copy before:
 *   0. every process an earlier lease left on the copy ended (copy-processes.ts);
 *   1. the repository is still ours: `.git` a directory, its config rewritten, alternates and a
 *      `commondir` a lease may have planted removed;
 *   2. the lease's ref or commit fetched, resolved to one commit (a commit asked for by id must
 *      be that commit);
 *   3. that commit checked out detached, `reset --hard`, `clean -ffdx`, and nothing left over
 *      (`status --ignored` prints nothing): otherwise the copy is broken, never reused;
 *   4. each merge fetched and merged in order; a conflict breaks the lease, naming the paths.
 */
import { DomainError, FileNotFoundError, InterfaceUnavailableError } from "../../domain/errors";
import type { LeaseInterfaces } from "../blueprint";
import { PermanentFailure } from "../failures";
import {
  abortMergeCommand,
  CHECKOUT_DIR,
  checkoutPathCommand,
  cleanCheckoutCommands,
  conflictedPathsCommand,
  COPY_GIT_CONFIG,
  fetchBranchesCommand,
  fetchedCommitCommand,
  fetchSourceCommand,
  initCommand,
  KNOWN_HOSTS_FILE,
  leftoversCommand,
  mergeCommand,
  type GitAuth,
} from "./git-commands";
import { COPY_MARKER, sweepProcesses } from "./copy-processes";
import { cleanFailure, credentialFor, fetchFailure, GitCommandError, runGit, runGitOk, tail } from "./copy-git";
import { describeSource, type Source, type WorkingCopyRequest } from "./lease-request";
import type { WorkingCopyConfig } from "./working-copy-config";

const encoder = new TextEncoder();
/** Short commands (rev-parse, status, checkout of a small tree) still get this long. */
const QUICK_MS = 120_000;

/** Builds the copy: returns its checkout's absolute path on the host. */
export async function cloneCopy(host: LeaseInterfaces, config: WorkingCopyConfig, repositoryURL: string): Promise<string> {
  const timeoutMs = config.gitTimeoutSeconds * 1000;
  await runGitOk(host.command, initCommand(), QUICK_MS);
  await host.filesystem.writeFile(`${CHECKOUT_DIR}/.git/config`, encoder.encode(COPY_GIT_CONFIG));
  try {
    await runGitOk(host.command, fetchBranchesCommand(repositoryURL, await authFor(host, config, repositoryURL)), timeoutMs);
  } catch (error) {
    if (error instanceof GitCommandError) throw fetchFailure(error, repositoryURL);
    throw error;
  }
  const pwd = await runGitOk(host.command, checkoutPathCommand(), QUICK_MS);
  return pwd.stdout.trim();
}

/** Steps 1 to 4 above; returns the commit the lease's tree is at (HEAD, merges included). */
export async function prepareCheckout(host: LeaseInterfaces, config: WorkingCopyConfig, resourceId: string, request: WorkingCopyRequest): Promise<string> {
  // No process of an earlier lease may write into the tree once it is clean.
  await sweepProcesses(host.command, COPY_MARKER, resourceId);
  await reclaimRepository(host, resourceId);
  const target = await fetchCommit(host, config, request.target);
  for (const run of cleanCheckoutCommands(target)) {
    const result = await runGit(host.command, run, QUICK_MS);
    if (result.exitCode !== 0) throw cleanFailure(resourceId, `${run.argv.at(-1) === target ? "checkout" : "clean"}: ${tail(result.stderr)}`);
  }
  const left = await runGit(host.command, leftoversCommand(), QUICK_MS);
  if (left.exitCode !== 0) throw cleanFailure(resourceId, `status: ${tail(left.stderr)}`);
  if (left.stdout !== "") throw cleanFailure(resourceId, `left over after clean: ${listed(left.stdout.split("\0").filter(Boolean).map((l) => l.slice(3)))}`);
  for (const source of request.merges) await merge(host, config, source);
  return target;
}

/**
 * Step 1: whatever the last lease did to `.git`, the repository is ours again. A refusal of the
 * host's interfaces (a path gone, a symlink planted) is the copy's fault; a host that cannot be
 * reached is not, and is thrown as it is (the lease retries; the host's checks break the host).
 */
async function reclaimRepository(host: LeaseInterfaces, resourceId: string): Promise<void> {
  const copyFault = (what: string) => (error: unknown) => {
    throw error instanceof DomainError && !(error instanceof InterfaceUnavailableError) ? cleanFailure(resourceId, `${what}: ${error.message}`) : error;
  };
  const entries = await host.filesystem.list(CHECKOUT_DIR).catch(copyFault("cannot list the checkout"));
  const dotGit = entries.find((e) => e.name === ".git");
  if (dotGit?.type !== "directory") throw cleanFailure(resourceId, `.git is ${dotGit ? `a ${dotGit.type}` : "gone"}`);
  await host.filesystem.writeFile(`${CHECKOUT_DIR}/.git/config`, encoder.encode(COPY_GIT_CONFIG)).catch(copyFault("cannot rewrite .git/config"));
  for (const planted of [".git/commondir", ".git/objects/info/alternates", ".git/index.lock", ".git/HEAD.lock"]) {
    await host.filesystem.remove(`${CHECKOUT_DIR}/${planted}`).catch((error: unknown) => {
      if (!(error instanceof FileNotFoundError)) copyFault(`cannot remove ${planted}`)(error);
    });
  }
}

/** The fetch's credential; a deploy key's pinned host keys written where its ssh reads them (public data). */
async function authFor(host: LeaseInterfaces, config: WorkingCopyConfig, url: string): Promise<GitAuth | null> {
  const auth = await credentialFor(config, url);
  if (auth?.kind === "deploy-key") await host.filesystem.writeFile(KNOWN_HOSTS_FILE, encoder.encode(auth.knownHosts));
  return auth;
}

async function fetchCommit(host: LeaseInterfaces, config: WorkingCopyConfig, source: Source): Promise<string> {
  try {
    await runGitOk(host.command, fetchSourceCommand(source, await authFor(host, config, source.repositoryURL)), config.gitTimeoutSeconds * 1000);
  } catch (error) {
    if (error instanceof GitCommandError) throw fetchFailure(error, describeSource(source));
    throw error;
  }
  const resolved = await runGit(host.command, fetchedCommitCommand(), QUICK_MS);
  const commit = resolved.stdout.trim();
  if (resolved.exitCode !== 0 || commit === "") throw new PermanentFailure(`${describeSource(source)} is not a commit`, "not_a_commit");
  if ("commit" in source && commit !== source.commit) throw new PermanentFailure(`${describeSource(source)}: fetched ${commit}, not the commit asked for`, "commit_mismatch");
  return commit;
}

async function merge(host: LeaseInterfaces, config: WorkingCopyConfig, source: Source): Promise<void> {
  const commit = await fetchCommit(host, config, source);
  const merged = await runGit(host.command, mergeCommand(commit, source), config.gitTimeoutSeconds * 1000);
  if (merged.exitCode === 0) return;
  const conflicted = await runGit(host.command, conflictedPathsCommand(), QUICK_MS);
  const paths = conflicted.stdout.split("\0").filter(Boolean);
  // The tree is left as it is for nobody: the next activation resets it anyway.
  await runGit(host.command, abortMergeCommand(), QUICK_MS).catch(() => undefined);
  if (paths.length > 0) throw new PermanentFailure(`merge of ${describeSource(source)} conflicts in ${listed(paths)}`, "merge_conflict");
  throw new PermanentFailure(`merge of ${describeSource(source)} failed: ${tail(merged.stderr || merged.stdout)}`, "merge_failed");
}

/** Up to 20 paths, then how many more. */
function listed(paths: readonly string[]): string {
  const shown = paths.slice(0, 20).join(", ");
  return paths.length > 20 ? `${shown} and ${paths.length - 20} more` : shown;
}
