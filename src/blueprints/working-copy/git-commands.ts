/**
 * The git commands of a working copy, as data (pure: a unit test reads exactly what runs).
 *
 * Every command runs in the copy's checkout (`repo/` in its host lease's directory) through the
 * host lease's command interface, so it is the same on a local, SSH or EC2 host. The checkout is
 * shared by the leases of one repository in turn, and each of them could have rewritten anything
 * in it, `.git` included, so nothing git would read from the copy is trusted:
 * - GIT_DIR and GIT_COMMON_DIR are set (a `.git` file or `commondir` pointing elsewhere is
 *   ignored), the repository's config is rewritten before every activation (COPY_GIT_CONFIG),
 *   and the user's global config is not read (HOME is the host lease's directory, which a lease
 *   writes). The host's system config (/etc/gitconfig, its operator's) still applies.
 * - Hooks and fsmonitor are off, and only the transports a copy may use are allowed, on the
 *   command line, where no file can override them.
 * - No prompt ever waits for a terminal, and no trace variable can print a header.
 *
 * Credentials reach git through the command's stdin only: never in argv, where `ps` shows it,
 * nor in the URL, where git prints it, nor in a file. A token becomes an
 * `http.<prefix>.extraHeader`, read by the shell into GIT_CONFIG_VALUE_0; redirects are not
 * followed with it, so it is only sent to the prefix it was given for. A deploy key goes to an
 * ssh-agent started for the one command (`ssh-add -`), and ssh trusts only the pinned host keys.
 */
import { describeSource, type Source } from "./lease-request";

/** The checkout, relative to the host lease's directory; its `.git` is the copy's repository. */
export const CHECKOUT_DIR = "repo";

/** The fixed config of every copy's repository, written over whatever a lease left. */
export const COPY_GIT_CONFIG = [
  "[core]",
  "\trepositoryformatversion = 0",
  "\tfilemode = true",
  "\tbare = false",
  "\tlogallrefupdates = false",
  "\thooksPath = /dev/null",
  "\tfsmonitor = false",
  "[gc]",
  "\tautoDetach = false",
  "",
].join("\n");

export interface GitRun {
  argv: string[];
  /** Relative to the host lease's directory. */
  cwd: string;
  env: Record<string, string>;
  /** Bytes for stdin: the credential (a header line, a deploy key), when one applies. */
  stdin?: string;
}

/** Settings on the command line: they beat any config file a lease could have written. */
const SAFE_CONFIG = [
  "core.hooksPath=/dev/null",
  "core.fsmonitor=false",
  "gc.autoDetach=false",
  "protocol.allow=never",
  "protocol.https.allow=always",
  "protocol.http.allow=always",
  "protocol.git.allow=always",
  "protocol.ssh.allow=always",
  "protocol.file.allow=always",
  "credential.helper=",
  "submodule.recurse=false",
  "advice.detachedHead=false",
];

const BASE_ENV: Record<string, string> = {
  GIT_DIR: ".git",
  GIT_COMMON_DIR: ".git",
  GIT_WORK_TREE: ".",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  GIT_ASKPASS: "/bin/false",
  SSH_ASKPASS: "/bin/false",
  GIT_SSH_COMMAND: "ssh -o BatchMode=yes",
  GIT_TRACE: "0",
  GIT_TRACE_PACKET: "0",
  GIT_TRACE_CURL: "0",
  GIT_CURL_VERBOSE: "0",
  GIT_REDACT_COOKIES: "",
  LC_ALL: "C",
  // Merges are Drydock's commits: a fixed identity, never the host user's.
  GIT_AUTHOR_NAME: "Drydock",
  GIT_AUTHOR_EMAIL: "drydock@localhost",
  GIT_COMMITTER_NAME: "Drydock",
  GIT_COMMITTER_EMAIL: "drydock@localhost",
};

const git = (args: string[]): string[] => ["git", ...SAFE_CONFIG.flatMap((c) => ["-c", c]), ...args];
const inCheckout = (args: string[]): GitRun => ({ argv: git(args), cwd: CHECKOUT_DIR, env: { ...BASE_ENV } });

/** Makes the checkout and its repository (again, after a failed attempt: `git init` is idempotent). */
export function initCommand(): GitRun {
  const env: Record<string, string> = { ...BASE_ENV };
  delete env.GIT_DIR;
  delete env.GIT_COMMON_DIR;
  delete env.GIT_WORK_TREE;
  return { argv: git(["-c", "init.defaultBranch=drydock", "init", "--quiet", "--", CHECKOUT_DIR]), cwd: ".", env };
}

/** How a fetch authenticates: a header for http(s), a deploy key for ssh:// (the secret either way). */
export type GitAuth =
  | { kind: "header"; urlPrefix: string; /** `Authorization: Basic …`. */ header: string }
  | { kind: "deploy-key"; /** The private key, OpenSSH format. */ key: string; /** Written to KNOWN_HOSTS_FILE before the fetch. */ knownHosts: string };

/** The pinned host keys of a deploy key's server, in the host lease's directory (not the checkout). */
export const KNOWN_HOSTS_FILE = ".drydock-known-hosts";

export function basicAuthorization(username: string, token: string): string {
  return `Authorization: Basic ${Buffer.from(`${username}:${token}`).toString("base64")}`;
}

/** Reads the header from stdin into GIT_CONFIG_VALUE_0, then runs git (see the module's note). */
const HEADER_SCRIPT = 'IFS= read -r GIT_CONFIG_VALUE_0 || exit 125; export GIT_CONFIG_VALUE_0; exec "$@"';

/**
 * Starts an agent for this command only, gives it the key from stdin (`ssh-add -`: the key is never
 * in a file or an argv), runs git with stdin closed, and stops the agent whatever git did.
 */
const DEPLOY_KEY_SCRIPT = [
  'eval "$(ssh-agent -s)" >/dev/null || exit 125',
  'ssh-add -q - 2>/dev/null || { ssh-agent -k >/dev/null 2>&1; echo "drydock: ssh-add refused the deploy key" >&2; exit 125; }',
  '"$@" </dev/null; rc=$?',
  "ssh-agent -k >/dev/null 2>&1",
  'exit "$rc"',
].join("\n");

function withAuth(run: GitRun, auth: GitAuth | null): GitRun {
  if (!auth) return run;
  switch (auth.kind) {
    case "header":
      return {
        argv: ["sh", "-c", HEADER_SCRIPT, "sh", ...run.argv],
        cwd: run.cwd,
        env: {
          ...run.env,
          GIT_CONFIG_COUNT: "2",
          GIT_CONFIG_KEY_0: `http.${auth.urlPrefix}.extraHeader`,
          GIT_CONFIG_KEY_1: "http.followRedirects",
          GIT_CONFIG_VALUE_1: "false",
        },
        stdin: `${auth.header}\n`,
      };
    case "deploy-key":
      return {
        argv: ["sh", "-c", DEPLOY_KEY_SCRIPT, "sh", ...run.argv],
        cwd: run.cwd,
        env: {
          ...run.env,
          // Only the pinned keys: none of the user's or the system's known hosts, no asking.
          GIT_SSH_COMMAND: `ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=../${KNOWN_HOSTS_FILE} -o GlobalKnownHostsFile=/dev/null`,
        },
        stdin: auth.key.endsWith("\n") ? auth.key : `${auth.key}\n`,
      };
  }
}

/**
 * For a `file://` repository: git refuses one another user owns ("dubious ownership") unless it
 * is named safe, which only the command line of upload-pack can do for it. The path was checked
 * against the blueprint's fileRepositoryRoots and holds no character a shell treats specially.
 */
function uploadPackFor(url: string): string[] {
  if (!url.startsWith("file://")) return [];
  const path = new URL(url).pathname.replace(/\/+$/, "");
  return [`--upload-pack=git -c safe.directory=${path} -c safe.directory=${path}/.git upload-pack`];
}

/** Fetches every branch: the clone, at the copy's activation, so a lease's own fetch is small. */
export function fetchBranchesCommand(url: string, auth: GitAuth | null): GitRun {
  return withAuth(inCheckout(["fetch", "--quiet", "--no-tags", "--force", ...uploadPackFor(url), "--", url, "+refs/heads/*:refs/remotes/origin/*"]), auth);
}

/** Fetches one ref or commit into FETCH_HEAD. */
export function fetchSourceCommand(source: Source, auth: GitAuth | null): GitRun {
  const what = "ref" in source ? source.ref : source.commit;
  return withAuth(inCheckout(["fetch", "--quiet", "--no-tags", "--force", ...uploadPackFor(source.repositoryURL), "--", source.repositoryURL, what]), auth);
}

/** The commit FETCH_HEAD names (a tag peeled to its commit). */
export const fetchedCommitCommand = (): GitRun => inCheckout(["rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}"]);

/** Checkout of the exact commit, then the tree made clean: no lease sees another's files. */
export const cleanCheckoutCommands = (commit: string): GitRun[] => [
  inCheckout(["checkout", "--quiet", "--force", "--detach", commit]),
  inCheckout(["reset", "--quiet", "--hard", commit]),
  inCheckout(["clean", "-ffdxq"]),
];

/** Anything left over (changed, untracked, ignored): a clean tree prints nothing. */
export const leftoversCommand = (): GitRun => inCheckout(["status", "--porcelain=v1", "--ignored", "--untracked-files=all", "-z"]);

export function mergeCommand(commit: string, source: Source): GitRun {
  return inCheckout(["merge", "--quiet", "--no-ff", "--no-edit", "-m", `Drydock: merge ${describeSource(source)}`, commit]);
}

/** The paths a failed merge left unmerged (NUL-separated). */
export const conflictedPathsCommand = (): GitRun => inCheckout(["diff", "--name-only", "--diff-filter=U", "-z"]);
export const abortMergeCommand = (): GitRun => inCheckout(["merge", "--abort"]);
export const headCommand = (): GitRun => inCheckout(["rev-parse", "--verify", "HEAD"]);

/** The absolute path of the checkout on its host, for LeaseActivated and the resource's attributes. */
export const checkoutPathCommand = (): GitRun => ({ argv: ["pwd"], cwd: CHECKOUT_DIR, env: {} });
