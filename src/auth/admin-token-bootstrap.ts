import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { CommandContext } from "../commands/command-context";
import { NameTakenError } from "../domain/errors";
import { issueToken, type IssuedToken } from "./token-commands";
import { hasActiveAdminToken } from "./token-queries";

import { ADMIN_TOKEN_FILE } from "./admin-token-file";

export { ADMIN_TOKEN_FILE };

/** Owner names tried for the first admin token: `admin`, unless clients hold that name already. */
const ADMIN_OWNERS = ["admin", ...Array.from({ length: 9 }, (_, i) => `admin-${i + 2}`)];

/**
 * On a start with no active admin token (a new install, or every admin token revoked), issues
 * one and writes it to `<home>/admin.token`, readable by its owner only, where the CLI finds it.
 * Returns the token so the caller can say where it is (see firstTokenNotice); null when an admin
 * token exists already (nothing is written then: the file may belong to another install).
 *
 * Its owner is `admin`, or `admin-2`… when client tokens hold that name (an owner name belongs
 * to one role): a service whose admins were all revoked must still be able to start.
 * Two processes starting together on one empty database may both issue one; both tokens work.
 */
export async function ensureAdminToken(ctx: CommandContext, home: string): Promise<{ token: string; owner: string; file: string } | null> {
  if (await hasActiveAdminToken(ctx.db, ctx.clock.now())) return null;
  const { token, owner } = await issueFirstAdminToken(ctx);
  const file = path.join(home, ADMIN_TOKEN_FILE);
  await mkdir(home, { recursive: true });
  // Written beside the file with mode 0600 and renamed over it: the token is never readable by
  // others, not even for a moment, and a half-written file is never seen.
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${token}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
  return { token, owner, file };
}

async function issueFirstAdminToken(ctx: CommandContext): Promise<IssuedToken> {
  for (const owner of ADMIN_OWNERS) {
    try {
      return await issueToken(ctx, { owner, role: "admin" }, { actor: "system" });
    } catch (error) {
      if (!(error instanceof NameTakenError)) throw error;
    }
  }
  throw new Error(`cannot create the first admin token: client tokens hold every owner name tried (${ADMIN_OWNERS.join(", ")})`);
}

/**
 * What `drydock serve` prints about a token ensureAdminToken created. The token itself only on a
 * terminal: output that is not one (a pipe, a file, a service manager's journal) is kept, copied
 * and shared, and would keep an admin token in every copy. Elsewhere it says where the file is.
 */
export function firstTokenNotice(created: { token: string; owner: string; file: string }, stdoutIsTerminal: boolean): string[] {
  const intro = `drydock: no admin token existed, so one was created for owner ${created.owner}`;
  if (stdoutIsTerminal) return [`${intro}. It is shown this once and kept in ${created.file} (mode 0600):`, `  ${created.token}`];
  return [`${intro} and written to ${created.file} (mode 0600). It is not printed here because this output is not a terminal; read it from that file.`];
}
