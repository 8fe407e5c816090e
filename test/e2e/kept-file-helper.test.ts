import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killArgv, pidsWithArgv, waitForNoArgv } from "../support/argv-pids";
import { waitUntil } from "../support/wait-until";
import { HELPER_NODE_FLAGS } from "../../src/sandbox/spawn-helper";
import { startApi, type ApiClient, type ApiHarness } from "./api-harness";

/**
 * A client's lease answers its small file operations from one helper kept in its sandbox
 * (src/sandbox/lease-file-server.ts), instead of starting bubblewrap and Node.js for each (about
 * 60 ms a read on this VM). What a user sees: every answer right, at once or one after another,
 * and none held back behind a slow one;
 * one helper process for the lease while it uses its files, none once it stops (after the idle
 * time) or ends; a helper that dies is replaced; and the lease's end does not name the service's
 * helper among the processes the lease left running.
 */
const MIB = 1024 * 1024;

interface ClientLease {
  id: string;
  dir: string;
  /** The kept helper's argv, as /proc shows it inside the sandbox. */
  helperArgv: string[];
}

async function clientLease(client: ApiClient): Promise<ClientLease> {
  const created = await client.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
  if (created.status !== 201 || created.body.status !== "active") throw new Error(`no active lease: ${created.status} ${created.text}`);
  const id = created.body.id as string;
  const pwd = await client.call("POST", `/v1/leases/${id}/commands`, { argv: ["pwd"] });
  const dir = (pwd.body.stdout as string).trim();
  return { id, dir, helperArgv: [process.execPath, ...HELPER_NODE_FLAGS, "/drydock/file-helper.mjs", "serve", dir] };
}

function bytesOf(n: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 31 + seed) % 251;
  return bytes;
}

async function put(client: ApiClient, lease: ClientLease, file: string, body: Uint8Array | string): Promise<void> {
  const res = await client.call("PUT", `/v1/leases/${lease.id}/files/${file}`, body, { "content-type": "application/octet-stream" });
  expect(res.status, `PUT ${file}: ${res.text}`).toBe(204);
}

/** The file's bytes as the client gets them. */
async function get(api: ApiHarness, client: ApiClient, lease: ClientLease, file: string): Promise<Buffer> {
  const res = await api.app.request(`/v1/leases/${lease.id}/files/${file}`, { headers: { Authorization: `Bearer ${client.token}` } });
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(res.status, `GET ${file}: ${bytes.subarray(0, 200).toString()}`).toBe(200);
  return bytes;
}

async function release(api: ApiHarness, client: ApiClient, leaseId: string): Promise<void> {
  expect((await client.call("POST", `/v1/leases/${leaseId}/release`, {})).status).toBe(200);
  await api.pollLease(leaseId, (l) => l.status === "destroyed", 30_000);
}

/** A service of the describe block's own, on a home of its own, with one client; closed after the block. */
function serviceFor(owner: string, sandbox: { keptHelperIdleMs?: number } = {}): { api: ApiHarness; client: ApiClient } {
  const service = {} as { api: ApiHarness; client: ApiClient };
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(path.join(tmpdir(), "drydock-home-"));
    service.api = await startApi({}, { localHost: { root: path.join(home, "local-host"), slots: 8 }, sandbox: { hidden: [home], ...sandbox } });
    service.client = await service.api.client(owner);
  });
  afterAll(async () => {
    await service.api?.close();
    await rm(home, { recursive: true, force: true });
  });
  return service;
}

describe("a client's lease keeps one file helper while it uses its files", () => {
  const service = serviceFor("alice");

  it("answers writes, reads, listings and removals one after another, every one from the same helper", async () => {
    const lease = await clientLease(service.client);
    const seen = new Set<number>();
    const look = async () => {
      const pids = await pidsWithArgv(lease.helperArgv);
      expect(pids, "one kept helper").toHaveLength(1);
      seen.add(pids[0]!);
    };
    const files = [0, 1, 70_000, 4096, 3].map((size, i) => ({ name: `d/f${i}.bin`, bytes: bytesOf(size, i) }));
    for (const file of files) {
      await put(service.client, lease, file.name, file.bytes);
      await look();
    }
    for (const file of files) {
      expect((await get(service.api, service.client, lease, file.name)).equals(Buffer.from(file.bytes)), file.name).toBe(true);
      await look();
    }
    const listing = await service.client.call("GET", `/v1/leases/${lease.id}/files/d?list=1`);
    expect(listing.body.items.map((e: { name: string; size: number }) => [e.name, e.size])).toEqual(files.map((f) => [path.basename(f.name), f.bytes.length]));
    await look();
    expect((await service.client.call("DELETE", `/v1/leases/${lease.id}/files/d/f1.bin`)).status).toBe(204);
    expect((await service.client.call("GET", `/v1/leases/${lease.id}/files/d/f1.bin`)).body.error.code).toBe("file_not_found");
    expect((await service.client.call("PUT", `/v1/leases/${lease.id}/files/d/f2.bin/under`, "x", { "content-type": "text/plain" })).status).toBe(400);
    expect((await service.client.call("GET", `/v1/leases/${lease.id}/files/d`)).status).toBe(400);
    await look();
    expect([...seen]).toHaveLength(1);
    await release(service.api, service.client, lease.id);
  });

  it("answers as many requests at once as a lease may have in flight, each with its own file", async () => {
    const lease = await clientLease(service.client);
    // A lease has at most 16 file transfers in flight (429 beyond): the test stays under it.
    const names = Array.from({ length: 14 }, (_, i) => `many/${i}.txt`);
    await Promise.all(names.map((name, i) => put(service.client, lease, name, `content of ${i} `.repeat(i + 1))));
    const read = await Promise.all(names.map((name) => get(service.api, service.client, lease, name)));
    read.forEach((bytes, i) => expect(bytes.toString("utf8")).toBe(`content of ${i} `.repeat(i + 1)));
    expect(await pidsWithArgv(lease.helperArgv)).toHaveLength(1);
    await release(service.api, service.client, lease.id);
  });

  it("holds no request back behind a slow one: a read asked during the removal of a large tree is answered first", async () => {
    const lease = await clientLease(service.client);
    const made = await service.client.call("POST", `/v1/leases/${lease.id}/commands`, { argv: ["sh", "-c", "mkdir -p tree && cd tree && seq 1 20000 | xargs touch && echo quick > ../quick.txt"] });
    expect(made.body?.exitCode, made.text).toBe(0);
    expect((await get(service.api, service.client, lease, "quick.txt")).toString()).toBe("quick\n");
    const finished: string[] = [];
    const removal = service.client.call("DELETE", `/v1/leases/${lease.id}/files/tree`).then((res) => {
      finished.push("removal");
      return res;
    });
    // The removal is on its way to the helper before the read is asked.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await get(service.api, service.client, lease, "quick.txt")).toString()).toBe("quick\n");
    finished.push("read");
    expect((await removal).status).toBe(204);
    expect(finished).toEqual(["read", "removal"]);
    expect((await service.client.call("GET", `/v1/leases/${lease.id}/files/tree`)).status).toBe(404);
    await release(service.api, service.client, lease.id);
  });

  it("streams files over the size it keeps in memory through a helper of their own, and answers either side of that size whole", async () => {
    const lease = await clientLease(service.client);
    for (const [name, size] of [["at.bin", MIB], ["over.bin", MIB + 1], ["large.bin", 3 * MIB + 17]] as const) {
      const bytes = bytesOf(size, size % 251);
      await put(service.client, lease, name, bytes);
      expect((await get(service.api, service.client, lease, name)).equals(Buffer.from(bytes)), name).toBe(true);
    }
    await release(service.api, service.client, lease.id);
  });

  it("ends the helper with the lease, and does not name it among the processes the lease left running", async () => {
    const lease = await clientLease(service.client);
    await put(service.client, lease, "note.txt", "hello");
    expect(await pidsWithArgv(lease.helperArgv)).toHaveLength(1);
    await release(service.api, service.client, lease.id);
    await waitForNoArgv(lease.helperArgv, 5_000);
    const events = await service.api.call("GET", `/v1/leases/${lease.id}/events`);
    const destroyed = events.body.items.find((e: { type: string }) => e.type === "LeaseDestroyed");
    expect(destroyed.data.killedProcesses).toEqual([]);
  });

  it("at the lease's process cap, a file call is refused at once with 503 naming the cap, and answered again once the lease's processes end", async () => {
    const blueprintId = await service.api.localHostBlueprintId();
    const current = await service.api.call("GET", `/v1/blueprints/${blueprintId}`);
    expect((await service.api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: { ...current.body.config, sandbox: { maxProcesses: 16 } } })).status).toBe(200);
    const sleep = ["sleep", `349.${Math.floor(Math.random() * 1e9)}`];
    try {
      const lease = await clientLease(service.client);
      // Eight sleeps and the command's own three or four leave fewer of the 16 than a helper needs (8).
      // Eight sleeps and the command's own three tasks leave fewer of the 16 than a helper needs (8).
      const filling = service.client.call("POST", `/v1/leases/${lease.id}/commands`, { argv: ["sh", "-c", `${Array.from({ length: 8 }, () => `${sleep.join(" ")} &`).join(" ")} wait`], timeoutSeconds: 4 });
      await waitUntil("the command's eight sleeps", async () => (await pidsWithArgv(sleep)).length === 8, 10_000);
      const refused = await service.client.call("GET", `/v1/leases/${lease.id}/files/anything.txt`);
      expect(refused.status, refused.text).toBe(503);
      expect(refused.body.error.code).toBe("interface_unavailable");
      expect(refused.body.error.message).toMatch(/of the 16 processes and threads it may \(sandbox\.maxProcesses\)/);
      expect((await filling).body.timedOut).toBe(true);
      await waitForNoArgv(sleep, 10_000);
      await put(service.client, lease, "after.txt", "room again");
      expect((await get(service.api, service.client, lease, "after.txt")).toString()).toBe("room again");
      await release(service.api, service.client, lease.id);
    } finally {
      await killArgv(sleep);
      await service.api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: current.body.config });
    }
  });

  it("replaces a helper that died: the next read is answered by a new one", async () => {
    const lease = await clientLease(service.client);
    await put(service.client, lease, "kept.txt", "still here");
    const [first] = await pidsWithArgv(lease.helperArgv);
    expect(first).toBeDefined();
    process.kill(first!, "SIGKILL");
    // Asked at once: the service may not have seen it die yet, and asks a new helper.
    expect((await get(service.api, service.client, lease, "kept.txt")).toString()).toBe("still here");
    const now = await pidsWithArgv(lease.helperArgv);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(first);
    await release(service.api, service.client, lease.id);
  });
});

describe("a kept file helper that is not used ends", () => {
  const service = serviceFor("bob", { keptHelperIdleMs: 300 });

  it("after its idle time, and the next operation starts another", async () => {
    const lease = await clientLease(service.client);
    await put(service.client, lease, "a.txt", "first");
    const [first] = await waitUntil("the kept helper", async () => {
      const pids = await pidsWithArgv(lease.helperArgv);
      return pids.length === 1 ? pids : null;
    }, 5_000);
    await waitForNoArgv(lease.helperArgv, 10_000);
    expect((await get(service.api, service.client, lease, "a.txt")).toString()).toBe("first");
    const next = await pidsWithArgv(lease.helperArgv);
    expect(next).toHaveLength(1);
    expect(next[0]).not.toBe(first);
    await release(service.api, service.client, lease.id);
  });
});
