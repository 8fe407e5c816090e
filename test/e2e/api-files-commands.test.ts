import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "./api-harness";

let api: ApiHarness;
let leaseId: string;

beforeAll(async () => {
  api = await startApi();
  const created = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
  if (created.status !== 201) throw new Error(`no active lease: ${created.status} ${created.text}`);
  leaseId = created.body.id;
});
afterAll(async () => {
  await api?.close();
});

const exec = (body: unknown) => api.call("POST", `/v1/leases/${leaseId}/commands`, body);

describe("POST /v1/leases/{id}/commands", () => {
  it("runs an argv and reports exit code and output", async () => {
    const ok = await exec({ argv: ["uptime"] });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ exitCode: 0, signal: null, timedOut: false, stdoutTruncated: false });
    expect(ok.body.stdout).toMatch(/load average/);

    const failing = await exec({ argv: ["sh", "-c", "echo oops >&2; exit 3"] });
    expect(failing.status).toBe(200);
    expect(failing.body).toMatchObject({ exitCode: 3, stderr: "oops\n" });
  });

  it("passes stdin, env and cwd, argv verbatim", async () => {
    const cat = await exec({ argv: ["cat"], stdin: "from stdin; $HOME `x`" });
    expect(cat.body.stdout).toBe("from stdin; $HOME `x`");
    const env = await exec({ argv: ["sh", "-c", 'printf %s "$GREETING"'], env: { GREETING: "hello there" } });
    expect(env.body.stdout).toBe("hello there");

    expect((await api.call("PUT", `/v1/leases/${leaseId}/files/sub/dir/marker`, "m", { "content-type": "text/plain" })).status).toBe(204);
    const pwd = await exec({ argv: ["ls"], cwd: "sub/dir" });
    expect(pwd.body).toMatchObject({ exitCode: 0, stdout: "marker\n" });
    const outside = await exec({ argv: ["ls"], cwd: "../.." });
    expect(outside.status).toBe(400);
    expect(outside.body.error.code).toBe("path_outside_lease");
  });

  it("ends a command at its timeout", async () => {
    const slow = await exec({ argv: ["sleep", "30"], timeoutSeconds: 0.3 });
    expect(slow.status).toBe(200);
    expect(slow.body.timedOut).toBe(true);
    expect(slow.body.durationMs).toBeLessThan(10_000);
  });

  it.each([
    [{}, "argv: Required"],
    [{ argv: [] }, "argv: "],
    [{ argv: [""] }, "argv.0: "],
    [{ argv: "uptime" }, "argv: "],
    [{ argv: ["true"], timeoutSeconds: 0 }, "timeoutSeconds: "],
    [{ argv: ["true"], timeoutSeconds: 3601 }, "timeoutSeconds: "],
    [{ argv: ["true"], env: { A: 1 } }, "env.A: "],
    [{ argv: ["true"], bogus: true }, "bogus: "],
    [{ argv: Array.from({ length: 257 }, () => "x") }, "argv: "],
  ])("400 for %j", async (body, message) => {
    const before = await api.eventCount();
    const res = await exec(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.message.startsWith(message), res.body.error.message).toBe(true);
    expect(await api.eventCount()).toBe(before);
  });

  it("refuses a shell where the blueprint does not allow one", async () => {
    const res = await exec({ argv: ["echo hi | tr a-z A-Z"], shell: true });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/shell/);
  });
});

describe("files of a lease", () => {
  const file = (path: string) => `/v1/leases/${leaseId}/files/${path}`;

  it("round-trips binary bytes, replaces, lists and removes", async () => {
    const bytes = new Uint8Array(70_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) % 256;
    expect((await api.call("PUT", file("bin/blob.dat"), bytes, { "content-type": "application/octet-stream" })).status).toBe(204);
    const got = await api.app.request(file("bin/blob.dat"));
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);

    // Any content type is taken as bytes.
    expect((await api.call("PUT", file("bin/blob.dat"), '{"not": "parsed"}', { "content-type": "application/json" })).status).toBe(204);
    expect((await api.call("GET", file("bin/blob.dat"))).text).toBe('{"not": "parsed"}');

    const empty = await api.call("PUT", file("bin/empty"), new Uint8Array(0), { "content-type": "application/octet-stream" });
    expect(empty.status).toBe(204);
    expect((await api.app.request(file("bin/empty"))).headers.get("content-type")).toBe("application/octet-stream");

    const listing = await api.call("GET", file("bin?list=1"));
    expect(listing.status).toBe(200);
    expect(listing.body.items.map((e: any) => [e.name, e.type])).toEqual([
      ["blob.dat", "file"],
      ["empty", "file"],
    ]);
    const root = await api.call("GET", `/v1/leases/${leaseId}/files`);
    expect(root.body.items.map((e: any) => e.name)).toContain("bin");

    const asFile = await api.call("GET", file("bin"));
    expect(asFile.status).toBe(400);
    const notDir = await api.call("GET", file("bin/empty?list=1"));
    expect(notDir.status).toBe(400);

    expect((await api.call("DELETE", file("bin/blob.dat"))).status).toBe(204);
    const gone = await api.call("GET", file("bin/blob.dat"));
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe("file_not_found");
    expect((await api.call("DELETE", file("bin/blob.dat"))).status).toBe(404);
    expect((await api.call("DELETE", file("bin"))).status).toBe(204);
  });

  it("decodes encoded names but never lets `..` through", async () => {
    expect((await api.call("PUT", file("with%20space%3F.txt"), "ok", { "content-type": "text/plain" })).status).toBe(204);
    expect((await api.call("GET", file("with%20space%3F.txt"))).text).toBe("ok");
    const names = (await api.call("GET", `/v1/leases/${leaseId}/files`)).body.items.map((e: any) => e.name);
    expect(names).toContain("with space?.txt");

    for (const path of ["..%2Fescape", "a%2F..%2F..%2Fescape", "%2E%2E%2Fescape", "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2Ftmp%2Fescape"]) {
      const res = await api.call("PUT", file(path), "x", { "content-type": "text/plain" });
      expect(res.status, path).toBe(400);
      expect(res.body.error.code, path).toBe("path_outside_lease");
    }
  });
});
