import { createHash, randomBytes } from "node:crypto";

/**
 * Bearer tokens: `ddk_` and 32 random bytes in base64url (256 bits). The prefix makes a leaked
 * token easy to recognise (secret scanners, logs); the bytes make it unguessable.
 *
 * Only a SHA-256 hash is stored. A slow password hash (bcrypt, scrypt) protects secrets people
 * choose, which an attacker with the hashes can guess; nobody can enumerate 2^256 random tokens,
 * so a fast hash is as safe here, and it lets every request find its token with one indexed
 * lookup by hash instead of a slow comparison per stored token.
 */
export const TOKEN_PREFIX = "ddk_";
export const tokenPattern = /^ddk_[A-Za-z0-9_-]{43}$/;

export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

export function hashToken(token: string): string {
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
}

/** The token of an `Authorization: Bearer <token>` header, or null when the header is absent or malformed. */
export function bearerTokenOf(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  const token = match?.[1];
  return token && tokenPattern.test(token) ? token : null;
}
