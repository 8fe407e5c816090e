import type { BlueprintImplementation } from "../../src/blueprints/blueprint";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import type { TestDatabase } from "./test-database";

/**
 * Several allocator instances on one test database, as separate processes would run them: on
 * PostgreSQL each has its own connection pool and LISTEN session. Worker errors are collected in
 * `errors` for the test to assert empty.
 */
export interface AllocatorInstances {
  instances: Drydock[];
  errors: unknown[];
  close(): Promise<void>;
}

export async function startAllocatorInstances(
  database: TestDatabase,
  count: number,
  options: { namePrefix?: string; blueprints?: BlueprintImplementation[]; concurrency?: number } = {},
): Promise<AllocatorInstances> {
  const instances: Drydock[] = [];
  const errors: unknown[] = [];
  for (let i = 0; i < count; i++) {
    instances.push(
      await createDrydock({
        // A pool a little over the worker's concurrency: two such tests running side by side stay
        // well under the server's max_connections (100 by default).
        ...(database.url ? { databaseUrl: database.url, databasePoolSize: (options.concurrency ?? 8) + 2 } : { database }),
        localHost: false,
        ...(options.blueprints ? { blueprints: options.blueprints } : {}),
        workerId: `${options.namePrefix ?? "allocator"}-${i}`,
        ...(options.concurrency ? { workerOptions: { concurrency: options.concurrency } } : {}),
        onWorkerError: (e) => errors.push(e),
      }),
    );
  }
  return {
    instances,
    errors,
    async close() {
      for (const d of instances) await d.close();
    },
  };
}
