import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { CommandContext } from "../commands/command-context";
import { issueToken } from "./token-commands";
import { hasActiveAdminToken } from "./token-queries";

export const ADMIN_TOKEN_FILE = "admin.token";

/**
 * On a start with no active admin token (a new install, or every admin token revoked), issues
 * one for the owner `admin` and writes it to `<home>/admin.token`, readable by its owner only,
 * where the CLI finds it. Returns the token so the caller can print it once; null when an admin
 * token exists already (nothing is written then: the file may belong to another install).
 *
 * Two processes starting together on one empty database may both issue one; both tokens work.
 */
export async function ensureAdminToken(ctx: CommandContext, home: string): Promise<{ token: string; file: string } | null> {
  if (await hasActiveAdminToken(ctx.db)) return null;
  const { token } = await issueToken(ctx, { owner: "admin", role: "admin" }, { actor: "system" });
  const file = path.join(home, ADMIN_TOKEN_FILE);
  await mkdir(home, { recursive: true });
  // Written beside the file with mode 0600 and renamed over it: the token is never readable by
  // others, not even for a moment, and a half-written file is never seen.
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${token}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
  return { token, file };
}
