import { createApp } from "../src/api/app";
import { issueToken } from "../src/auth/token-commands";
import { createDrydock } from "../src/service/drydock";
import type { Database } from "../src/store/database";

/**
 * The service in the bench's own process, on `database`, with a local-host pool of 4 slots under
 * `root` and no rate limits; and one lease cycle through its API (`app.request`: no sockets), as
 * an admin: acquire a host (POST /v1/leases?wait=30), release it. For the benches that count or
 * time the cycle itself (cycle-statements, long-run); bench:lease-cycle serves real HTTP instead.
 */
export async function inProcessService(database: Database, root: string) {
  const drydock = await createDrydock({ database, localHost: { root, slots: 4 } });
  const app = createApp(drydock, { rateLimits: { leases: null, commands: null } });
  const { token } = await issueToken(drydock.commands, { owner: "bench", role: "admin" }, { actor: "bench" });
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  /** Acquires and releases a host; the lease's id. */
  const acquireAndRelease = async (): Promise<string> => {
    const res = await app.request("/v1/leases?wait=30", { method: "POST", headers, body: '{"resourceType":"host"}' });
    const lease = (await res.json()) as { id: string; status: string };
    if (lease.status !== "active") throw new Error(`lease not active: ${JSON.stringify(lease)}`);
    const released = await app.request(`/v1/leases/${lease.id}/release`, { method: "POST", headers, body: "{}" });
    if (released.status !== 200) throw new Error(`release answered ${released.status}`);
    return lease.id;
  };
  return { drydock, acquireAndRelease };
}
