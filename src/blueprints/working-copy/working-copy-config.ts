/**
 * The config of a `working-copy` blueprint: which hosts its copies are built on, which local
 * paths `file://` repositories may come from, and the credentials git uses, by reference.
 *
 * Secrets never enter it: a token is `{ "env": "NAME" }` or `{ "file": "/abs/path" }`, read by
 * the service when a fetch needs it. The config is stored in BlueprintCreated/BlueprintUpdated
 * events and returned by the API; a token pasted in here would be in the log for ever, so the
 * schema refuses anything but a reference.
 */
import { accessSync, constants } from "node:fs";
import { z } from "zod";
import { ValidationError } from "../../domain/errors";
import { parseOrThrow } from "../../domain/parse";

/** A secret's reference, as static-hosts takes a private key's. */
export const secretRefSchema = z.union([
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name") }),
  z.strictObject({ file: z.string().startsWith("/", "an absolute path").max(4096) }),
]);
export type SecretRef = z.infer<typeof secretRefSchema>;

/** A URL prefix a credential applies to: no password, query or fragment; its kind's scheme. */
const urlPrefix = (schemes: readonly string[], what: string) =>
  z
    .string()
    .max(2048)
    .refine((text) => {
      try {
        const url = new URL(text);
        return schemes.includes(url.protocol) && text.startsWith(`${url.protocol}//`) && url.password === "" && url.search === "" && url.hash === "" && url.host !== "";
      } catch {
        return false;
      }
    }, what)
    .refine((text) => !/[\s"'\\`]/.test(text), "no spaces, quotes or backslashes");

/** An HTTP token, sent as basic auth (`username:token`). */
export const tokenCredentialSchema = z.strictObject({
  /** Repositories whose URL starts with this (path segment by path segment, as git matches `http.<url>.*`). */
  urlPrefix: urlPrefix(["https:", "http:"], "an http(s) URL prefix without a user, password, query or fragment").refine((t) => !/^[a-z]+:\/\/[^/]*@/.test(t), "no user in the URL: `username` names it"),
  /** The user name sent with the token (HTTP basic auth); forges take any for a token. */
  username: z.string().regex(/^[A-Za-z0-9._@-]{1,128}$/, "letters, digits, '.', '_', '@' and '-'").default("x-access-token"),
  token: secretRefSchema,
});

/** `host keytype base64 [comment]` lines, as `ssh-keyscan` prints them: public, not secret. */
const KNOWN_HOST_LINE = /^[^\s#]\S* (ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+=*( [^\0-\x1f]*)?$/;
const knownHosts = z
  .string()
  .max(64 * 1024)
  .refine((text) => {
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    return lines.length > 0 && lines.every((l) => KNOWN_HOST_LINE.test(l));
  }, "known_hosts lines, as `ssh-keyscan` prints them");

/** An SSH deploy key for `ssh://` repositories, with the server's host keys pinned. */
export const deployKeyCredentialSchema = z.strictObject({
  /** Repositories whose URL starts with this (`ssh://git@git.example.net/org/`): same user, host and port, and a path prefix. */
  urlPrefix: urlPrefix(["ssh:"], "an ssh:// URL prefix without a password, query or fragment"),
  deployKey: secretRefSchema,
  /** The git server's host keys; no other is trusted. */
  knownHosts,
});

export type GitCredential = z.infer<typeof tokenCredentialSchema> | z.infer<typeof deployKeyCredentialSchema>;

/** A token or a deploy key, told apart by `deployKey`, so an error names the field that is wrong (a union's would not). */
export const credentialSchema = z.unknown().transform((raw, ctx): GitCredential => {
  const schema = raw !== null && typeof raw === "object" && "deployKey" in raw ? deployKeyCredentialSchema : tokenCredentialSchema;
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
  return z.NEVER;
});

/** A directory on the hosts under which `file://` repositories may be read. */
const localRoot = z
  .string()
  .regex(/^\/[A-Za-z0-9._/-]*$/, "an absolute path of letters, digits, '.', '_', '-' and '/'")
  .max(1024)
  .refine((p) => !p.split("/").includes(".."), "no `..` segments")
  .transform((p) => p.replace(/\/+$/, "") || "/");

export const workingCopyConfigSchema = z.strictObject({
  /** Host blueprints the copies' host leases may come from; null: any this blueprint is authorized on. */
  hostBlueprintIds: z.array(z.string().min(1).max(64)).max(64).nullable().default(null),
  /** Attributes of the host leases (e.g. `{"labels": ["git"]}`), matched as any host lease's. */
  hostAttributes: z.record(z.string(), z.unknown()).default({}),
  /**
   * Directories (on the hosts) `file://` repositories may be read from. Empty: no `file://`
   * repository. Git is told to trust the ownership of repositories there (safe.directory).
   */
  fileRepositoryRoots: z.array(localRoot).max(64).default([]),
  /** Tokens for http(s) repositories, deploy keys for ssh:// ones; the first whose prefix covers a URL is used. */
  credentials: z.array(credentialSchema).max(256).default([]),
  /** Copies alive at once (the blueprint's resource limit); null: no limit but the hosts'. */
  maxCopies: z.number().int().min(1).max(10_000).nullable().default(null),
  /** How long one git command (a clone's fetch, a merge) may run. */
  gitTimeoutSeconds: z.number().int().min(1).max(3600).default(600),
});
export type WorkingCopyConfig = z.infer<typeof workingCopyConfigSchema>;

export function parseWorkingCopyConfig(raw: unknown): WorkingCopyConfig {
  return parseOrThrow(workingCopyConfigSchema, raw ?? {}, "config");
}

/** At create and PATCH: every token's variable is set and every token file readable (never read out). */
export function checkCredentialReferences(config: WorkingCopyConfig): void {
  config.credentials.forEach((credential, i) => {
    const [name, ref] = "token" in credential ? ["token", credential.token] : ["deployKey", credential.deployKey];
    if ("env" in ref) {
      if (process.env[ref.env]) return;
      const field = `config.credentials.${i}.${name}.env`;
      throw new ValidationError(`${field}: environment variable ${ref.env} is not set in the Drydock service's environment`, { issues: [{ field, message: `environment variable ${ref.env} is not set` }] });
    }
    try {
      accessSync(ref.file, constants.R_OK);
    } catch (error) {
      const field = `config.credentials.${i}.${name}.file`;
      const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
      throw new ValidationError(`${field}: the Drydock service cannot read ${ref.file} (${code})`, { issues: [{ field, message: `cannot read ${ref.file} (${code})` }] });
    }
  });
}
