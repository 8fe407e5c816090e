/**
 * The local httpd adapter on its own, with real processes and sockets: a server started through
 * the lease's command interface, or through another one `via` names (as a working copy will start
 * one in its checkout over its host lease), reached by the stream the adapter opens; stopped by
 * its signal; a clear HttpdUnreachableError when nothing listens.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpdUnreachableError, httpdVia } from "../../src/interfaces/httpd-interface";
import { localHttpd } from "../../src/interfaces/httpd-local";
import { LocalCommandInterface } from "../../src/interfaces/local-command";
import { freePort } from "../support/free-port";

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "drydock-httpd-local-"));
  await mkdir(path.join(root, "host", "checkout", "site"), { recursive: true });
  await writeFile(path.join(root, "host", "index.html"), "the host lease's page\n");
  await writeFile(path.join(root, "host", "checkout", "site", "index.html"), "the checkout's page\n");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** GET `path` over a stream the adapter opened. */
function get(stream: Duplex, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ path: urlPath, headers: { connection: "close" }, createConnection: () => stream as never }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function firstAnswer(connect: () => Promise<Duplex>, urlPath: string): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await get(await connect(), urlPath);
    } catch (error) {
      if (!(error instanceof HttpdUnreachableError) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("the local httpd adapter", () => {
  it("starts through the lease's command interface, or through the one `via` names, and stops on its signal", async () => {
    const host = new LocalCommandInterface({ root: path.join(root, "host"), allowShell: false });
    // A working copy's command interface: the same host, rooted in its checkout.
    const checkout = new LocalCommandInterface({ root: path.join(root, "host", "checkout"), allowShell: false });
    for (const [httpd, expected] of [
      [localHttpd(host), "the host lease's page\n"],
      [httpdVia(localHttpd(host), checkout), "the checkout's page\n"],
    ] as const) {
      const port = await freePort();
      const stop = new AbortController();
      const cwd = expected.startsWith("the checkout") ? { cwd: "site" } : {};
      const server = httpd.start(["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1"], port, { ...cwd, signal: stop.signal });
      expect(await firstAnswer(server.connect, "/index.html")).toEqual({ status: 200, body: expected });
      stop.abort();
      const ended = await server.exited;
      expect(ended).toMatchObject({ exitCode: null, signal: "SIGTERM", timedOut: false });
      const after = await server.connect().catch((e: unknown) => e);
      expect(after).toBeInstanceOf(HttpdUnreachableError);
      expect((after as Error).message).toMatch(new RegExp(`^nothing answers on port ${port} of this machine: connection refused`));
    }
  });
});
