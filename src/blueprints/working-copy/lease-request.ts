/**
 * What a `working-copy` lease asks for, in its attributes:
 *
 *   {"repositoryURL": "https://git.example.net/app.git", "ref": "main"}
 *   {"repositoryURL": "…", "commit": "<40 or 64 hex digits>"}
 *   {"repositoryURL": "…", "ref": "main", "merges": ["feature/x", {"commit": "…"}, {"repositoryURL": "…", "ref": "D123"}]}
 *
 * `ref` is a branch, a tag or a full ref (`refs/changes/…`); exactly one of `ref` and `commit`.
 * `merges` are merged on top, in order (Drydock's "test this change against its target"); a
 * string is a ref, or a commit when it is 40 or 64 hex digits; an object may name another
 * repository. Parsing is pure and names the field that is wrong: a request no copy could ever
 * serve is refused before anything is appended.
 */
import { z } from "zod";
import { parseOrThrow } from "../../domain/parse";

/** A commit id: SHA-1 or SHA-256, lower-case hex. */
const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * A ref name, a subset of `git check-ref-format`: no option-like or absolute names, nothing git
 * treats specially (`..`, `@{`, `~^:?*[\`, control characters, spaces).
 */
export const refSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9._/+-]+$/, "letters, digits and . _ / + - only")
  .refine((r) => !r.startsWith("-") && !r.startsWith("/") && !r.endsWith("/") && !r.endsWith(".") && !r.endsWith(".lock"), "not starting with - or /, not ending with /, . or .lock")
  .refine((r) => !r.includes("..") && !r.includes("//") && !r.split("/").some((s) => s.startsWith(".")), "no `..`, `//` or components starting with .");

export const commitSchema = z.string().regex(COMMIT, "a full commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits");

/** Transports a copy may fetch over; `ext::` and friends (which run commands) are never among them. */
const SCHEMES = new Set(["https:", "http:", "git:", "ssh:", "file:"]);

export const repositoryUrlSchema = z
  .string()
  .min(1)
  .max(2048)
  .superRefine((text, ctx) => {
    const fail = (message: string) => ctx.addIssue({ code: "custom", message });
    if (/[\s\0-\x1f\x7f"'\\`]/.test(text) || text.startsWith("-")) return fail("no spaces, quotes, backslashes or control characters, not starting with -");
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return fail("a URL: https://, http://, git://, ssh:// or file:///");
    }
    if (!SCHEMES.has(url.protocol)) return fail(`${url.protocol}// is not a transport a working copy uses (https, http, git, ssh, file)`);
    // Lower case as written, so every later check of the scheme reads the text git gets.
    if (!text.startsWith(`${url.protocol}//`)) return fail("the scheme in lower case, followed by //");
    if (url.password !== "" || (url.username !== "" && url.protocol !== "ssh:")) {
      return fail("no credentials in the URL: the blueprint's config holds them (credentials[].token)");
    }
    if (url.search !== "" || url.hash !== "") return fail("no query or fragment");
    if (url.protocol === "file:") {
      if (url.host !== "") return fail("file:///absolute/path (no host)");
      // Checked on the text as git reads it, not on the URL's normalized path.
      const raw = text.slice("file://".length);
      if (!/^\/[A-Za-z0-9._/-]+$/.test(raw) || raw.split("/").includes("..")) return fail("a file:// path of letters, digits, '.', '_', '-' and '/', without `..`");
    } else if (url.host === "") return fail("a host");
  });

/** What is fetched: a ref or a commit, from the lease's repository or another one. */
export type Source = { repositoryURL: string; ref: string } | { repositoryURL: string; commit: string };

const mergeObject = z
  .strictObject({ repositoryURL: repositoryUrlSchema.optional(), ref: refSchema.optional(), commit: commitSchema.optional() })
  .refine((m) => (m.ref === undefined) !== (m.commit === undefined), "exactly one of ref and commit");
const mergeSchema = z.union([z.string().regex(COMMIT).transform((commit) => ({ commit })), refSchema.transform((ref) => ({ ref })), mergeObject]);

const attributesSchema = z
  .object({
    repositoryURL: repositoryUrlSchema,
    ref: refSchema.optional(),
    commit: commitSchema.optional(),
    merges: z.array(mergeSchema).max(32).default([]),
  })
  // Other keys (host attributes a client adds, say) are not the copy's business: kept, unread.
  .passthrough()
  .superRefine((a, ctx) => {
    if ((a.ref === undefined) === (a.commit === undefined)) ctx.addIssue({ code: "custom", path: ["ref"], message: "exactly one of ref and commit" });
  });

export interface WorkingCopyRequest {
  repositoryURL: string;
  target: Source;
  merges: Source[];
}

/** The lease's attributes as a request for a copy; throws ValidationError naming `attributes.<field>`. */
export function parseWorkingCopyRequest(attributes: Record<string, unknown>): WorkingCopyRequest {
  const a = parseOrThrow(attributesSchema, attributes, "attributes");
  const target: Source = a.commit !== undefined ? { repositoryURL: a.repositoryURL, commit: a.commit } : { repositoryURL: a.repositoryURL, ref: a.ref! };
  const merges = a.merges.map((m): Source => {
    const repositoryURL = ("repositoryURL" in m && m.repositoryURL) || a.repositoryURL;
    return "commit" in m && m.commit !== undefined ? { repositoryURL, commit: m.commit } : { repositoryURL, ref: (m as { ref: string }).ref };
  });
  return { repositoryURL: a.repositoryURL, target, merges };
}

/** How a source reads in a reason: `main of https://…` or `<commit> of …`. */
export function describeSource(source: Source): string {
  return `${"ref" in source ? source.ref : source.commit.slice(0, 12)} of ${source.repositoryURL}`;
}
