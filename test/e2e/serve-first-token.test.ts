import { spawnSync } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { serveDrydock, type ServedDrydock } from "../support/served-drydock";

/**
 * `drydock serve` on a new install creates the first admin token and writes it to
 * $DRYDOCK_HOME/admin.token. With its output going to a pipe (a log file, a journal), the token
 * never appears in that output, which names the file instead; on a terminal it is shown once.
 * The service runs as a user starts it: `node bin/drydock.js serve`, in a child process.
 */

const hasScript = spawnSync("script", ["--version"]).status === 0;

const served: ServedDrydock[] = [];
afterEach(async () => {
  for (const service of served.splice(0).reverse()) await service.close();
});

async function startServe(viaTerminal: boolean): Promise<ServedDrydock> {
  const service = await serveDrydock({ viaTerminal });
  served.push(service);
  return service;
}

describe("drydock serve, first start", () => {
  it("with output to a pipe: the token is only in admin.token (0600), and the output says where", async () => {
    const { home, output } = await startServe(false);
    const file = path.join(home, "admin.token");
    const token = (await readFile(file, "utf8")).trim();
    expect(token).toMatch(/^ddk_[A-Za-z0-9_-]{43}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const log = output();
    expect(log).not.toContain(token);
    expect(log).not.toContain(token.slice(4, 20));
    expect(log).toContain(file);
    expect(log).toMatch(/not a terminal/);
  });

  it.skipIf(!hasScript)("on a terminal: the token is shown, once", async () => {
    const { home, output } = await startServe(true);
    const token = (await readFile(path.join(home, "admin.token"), "utf8")).trim();
    expect(output().split(token).length - 1).toBe(1);
    expect(output()).toContain(path.join(home, "admin.token"));
  });
});
