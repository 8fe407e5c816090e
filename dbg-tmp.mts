import { createApp } from "./src/api/app";
import { createDrydock } from "./src/service/drydock";
import { createTestDatabase } from "./test/support/test-database";
import { mkdtemp } from "node:fs/promises";
import { sql } from "kysely";
for (let round = 0; round < 30; round++) {
  const database = await createTestDatabase();
  const root = await mkdtemp("/tmp/dd-");
  const errors: string[] = [];
  const drydock = await createDrydock({ database, localHost: { root, slots: 2 }, onWorkerError: (e: any, s) => errors.push(`${Date.now()} ${s} ${e.message} ${e.stack.split("\n").slice(1,8).join(" | ")}`) });
  const app = createApp(drydock);
  const t0 = Date.now();
  const res = await app.request("/v1/leases?wait=10", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ resourceType: "host" }) });
  const lease: any = await res.json();
  console.log("round", round, res.status, Date.now() - t0, "ms", lease.status);
  if (res.status !== 201 || errors.length) {
    console.log(errors.join("\n"));
    for (const s of [`lease-${lease.id}`, `resource-${lease.resourceId}`]) {
      const evs = await drydock.store.readStream(s);
      console.log(s, evs.map((e) => `${e.recordedAt.toISOString()} ${e.type} ${e.metadata.actor} ${JSON.stringify(e.data).slice(0, 150)}`).join("\n  "));
    }
    console.log((await sql`select * from work_items`.execute(drydock.database.db)).rows);
  }
  await drydock.close(); await database.close();
}
