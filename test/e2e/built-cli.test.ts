import { spawn, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeSandboxHost } from "../../src/sandbox/sandbox-host";

/**
 * The build that `npm ci` makes (bin/build.mjs, the `prepare` script), so the CLI and the service
 * start as plain JavaScript. Built here into a directory of its own under node_modules/.cache,
 * never over dist/, which other tests' CLI runs may be using. Its start is measured by bench/startup.ts; this checks
 * what makes it fast (`--help` loads no package at all) and that the built service works, assets
 * and the sandbox's file helper included.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let out: string;
let home: string;

beforeAll(async () => {
  // Inside the repository, so that the build's imports find node_modules as dist/'s do.
  await mkdir(path.join(repoRoot, "node_modules/.cache"), { recursive: true });
  out = await mkdtemp(path.join(repoRoot, "node_modules/.cache/drydock-test-build-"));
  home = await mkdtemp(path.join(tmpdir(), "drydock-built-home-"));
  const built = spawnSync(process.execPath, ["bin/build.mjs", out], { cwd: repoRoot, encoding: "utf8" });
  expect(built.status, built.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  for (const dir of [out, home]) if (dir) await rm(dir, { recursive: true, force: true });
});

/** The modules a file imports statically (not `import()`): what loads before its code runs. */
async function staticImports(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8");
  return [...text.matchAll(/^import\s+(?:[^"';]*?\sfrom\s+)?["']([^"']+)["'];?$/gm)].map((m) => m[1]!);
}

describe("the build", () => {
  it("makes `drydock --help` load nothing from node_modules: every package waits for the subcommand that needs it", async () => {
    const seen = new Set<string>();
    const packages: string[] = [];
    const visit = async (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of await staticImports(file)) {
        if (spec.startsWith(".")) await visit(path.resolve(path.dirname(file), spec));
        else if (!spec.startsWith("node:")) packages.push(`${path.relative(out, file)} imports ${spec}`);
      }
    };
    await visit(path.join(out, "main.js"));
    expect(seen.size).toBeGreaterThan(1);
    expect(packages).toEqual([]);

    const help = spawnSync(process.execPath, [path.join(out, "main.js"), "--help"], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("drydock lease --type host");
  });

  it("builds the typed client that package.json exports as drydock/client: it loads no package, and errors arrive as its DrydockError", async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, "package.json"), "utf8"));
    expect(pkg.exports["./client"]).toEqual({ types: "./src/client/index.ts", default: "./dist/client.js" });
    const file = path.join(out, path.basename(pkg.exports["./client"].default));
    const packages: string[] = [];
    const seen = new Set<string>();
    const visit = async (f: string) => {
      if (seen.has(f)) return;
      seen.add(f);
      for (const spec of await staticImports(f)) {
        if (spec.startsWith(".")) await visit(path.resolve(path.dirname(f), spec));
        else packages.push(`${path.relative(out, f)} imports ${spec}`);
      }
    };
    await visit(file);
    expect(packages).toEqual([]);

    const built = await import(file);
    const requests: string[] = [];
    const client = new built.DrydockClient({
      url: "http://drydock.invalid/",
      token: "ddk_test",
      fetch: async (url: string, init: RequestInit) => {
        requests.push(`${init.method} ${url} ${new Headers(init.headers).get("authorization")}`);
        return Response.json({ error: { code: "not_found", message: "lease ls_x not found", details: { kind: "lease", id: "ls_x" } } }, { status: 404 });
      },
    });
    const error = await client.getLease("ls_x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(built.DrydockError);
    expect(error).toMatchObject({ status: 404, code: "not_found", message: "lease ls_x not found", details: { kind: "lease", id: "ls_x" } });
    expect(requests).toEqual(["GET http://drydock.invalid/v1/leases/ls_x Bearer ddk_test"]);
  });

  it("serves: /healthz, the /docs page's own script, a lease with a command and a file (sandboxed where the sandbox can run)", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    // On its own embedded database in DRYDOCK_HOME, whichever database the suite runs on: this
    // checks the build, and must not touch a shared one.
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: "", PORT: String(port), DRYDOCK_HOME: home };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, [path.join(out, "main.js"), "serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    let exited: number | null | undefined;
    child.stdout.on("data", (b: Buffer) => (log += b.toString()));
    child.stderr.on("data", (b: Buffer) => (log += b.toString()));
    child.once("exit", (code) => (exited = code));
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      while (!(await fetch(`${base}/healthz`).then((r) => r.ok, () => false))) {
        if (exited !== undefined || Date.now() > deadline) throw new Error(`the built service never answered (exit ${exited}): ${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const script = await fetch(`${base}/docs/assets/drydock-docs.js`);
      expect(script.status).toBe(200);
      expect(await script.text()).toBe(await readFile(path.join(repoRoot, "src/api/docs-client.js"), "utf8"));

      const admin = { Authorization: `Bearer ${(await readFile(path.join(home, "admin.token"), "utf8")).trim()}`, "content-type": "application/json" };
      const call = async (token: Record<string, string>, method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> => {
        const res = await fetch(`${base}${url}`, { method, headers: token, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        return { status: res.status, body: res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text() };
      };
      // A client's lease, so that on a machine with the sandbox its file operations go through
      // the file helper the build copies next to its code.
      const issued = await call(admin, "POST", "/v1/tokens", { owner: "built-ci", role: "client" });
      const client = { Authorization: `Bearer ${issued.body.token}`, "content-type": "application/json" };
      const blueprint = (await call(admin, "GET", "/v1/blueprints")).body.items[0].id;
      const asked = await call(client, "POST", `/v1/blueprints/${blueprint}/authorizations`, {});
      expect((await call(admin, "POST", `/v1/authorizations/${asked.body.id}/approve`, {})).status).toBe(200);
      const lease = await call(client, "POST", "/v1/leases?wait=30", { resourceType: "host" });
      if ((await probeSandboxHost()).unavailable !== null) {
        expect(lease.status).toBe(422); // the documented answer without bubblewrap
        return;
      }
      expect(lease.status, JSON.stringify(lease.body)).toBe(201);
      expect((await call(client, "POST", `/v1/leases/${lease.body.id}/commands`, { argv: ["echo", "built"] })).body).toMatchObject({ exitCode: 0, stdout: "built\n" });
      const put = await fetch(`${base}/v1/leases/${lease.body.id}/files/out.txt`, { method: "PUT", headers: { ...client, "content-type": "application/octet-stream" }, body: "hello" });
      expect(put.status).toBe(204);
      expect((await call(client, "GET", `/v1/leases/${lease.body.id}/files/out.txt`)).body).toBe("hello");
      expect((await call(client, "POST", `/v1/leases/${lease.body.id}/release`, {})).status).toBe(200);
    } finally {
      if (exited === undefined) {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
    }
  }, 60_000);
});
