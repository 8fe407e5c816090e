import { afterAll, beforeAll, expect, it } from "vitest";
import { PermanentFailure } from "../../src/blueprints/failures";
import { createBlueprint, updateBlueprint } from "../../src/commands/blueprint-commands";
import { requestLease } from "../../src/commands/lease-commands";
import { getLease } from "../../src/queries/lease-queries";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";
import { waitUntil } from "../support/wait-until";

/**
 * A resource's activation fails with a configuration error while an operator updates the
 * blueprint (the fix). The failure was made over the old config, and its record on the blueprint
 * (BlueprintTargetFailed) was to be appended at the version the step read: the update wins that
 * race. The step must not report it as a failure nor wait out a retry delay; it runs again over
 * the blueprint as it is now, and the resource activates. The worker is off: the test runs each
 * step and holds the activation until the update is stored.
 */

/** Holds the next activation until the test opens it; `entered` once it is held. */
let gate: { entered: boolean; opened: Promise<void> } | null = null;
/** Whether each activation saw the fixed config. */
const seen: boolean[] = [];

/**
 * The memory pool with an activation the test holds, failing as a configuration error (an image
 * that does not exist) while its config says `failActivation: "permanent"`.
 */
function gatedBlueprint(): ReturnType<typeof memoryPoolBlueprint> {
  return {
    ...memoryPoolBlueprint(),
    kind: "gated-pool",
    async activateResource(bp) {
      const fixed = bp.config.failActivation !== "permanent";
      seen.push(fixed);
      if (gate) {
        gate.entered = true;
        await gate.opened;
      }
      if (!fixed) throw new PermanentFailure("the image does not exist", "image_missing", { target: "image", configuration: true });
      return {};
    },
  };
}

let database: TestDatabase;
let drydock: Drydock;
const errors: unknown[] = [];
const actor = { actor: "operator" };

beforeAll(async () => {
  database = await createTestDatabase();
  drydock = await createDrydock({ database, localHost: false, blueprints: [gatedBlueprint()], worker: false, onWorkerError: (error) => errors.push(error) });
});
afterAll(async () => {
  await drydock?.close();
  await database?.close();
});

it(`an activation that fails while its blueprint is updated runs again over the update, with no error (${testDialect})`, async () => {
  const db = drydock.database.db;
  const blueprintId = await createBlueprint(drydock.commands, { name: "images", kind: "gated-pool", config: { failActivation: "permanent" } }, actor);
  const leaseId = await requestLease(drydock.commands, { resourceType: "sandbox" }, "ci", actor);
  expect(await drydock.worker.runNow(`lease-${leaseId}`)).toBe(true);
  const resourceId = (await getLease(db, leaseId)).resourceId!;
  expect(resourceId).toBeTruthy();

  // The activation starts over the broken config and is held; the operator's fix lands meanwhile.
  let open!: () => void;
  gate = { entered: false, opened: new Promise<void>((r) => (open = r)) };
  const running = drydock.worker.runNow(`resource-${resourceId}`);
  await waitUntil("the activation to start", () => gate!.entered, 10_000);
  await updateBlueprint(drydock.commands, blueprintId, { config: { failActivation: "none" } }, actor);
  gate = null;
  open();
  expect(await running).toBe(true);

  expect(errors).toEqual([]);
  const resource = await db.selectFrom("resources").select("status").where("resource_id", "=", resourceId).executeTakeFirstOrThrow();
  expect(resource.status).toBe("pending");
  const blueprint = await db.selectFrom("blueprints").select("failing_targets").where("blueprint_id", "=", blueprintId).executeTakeFirstOrThrow();
  expect(blueprint.failing_targets).toEqual([]);

  // Due again at once (no retry delay): it runs over the fixed config and the resource activates.
  expect(await drydock.worker.runNow(`resource-${resourceId}`)).toBe(true);
  expect(seen).toEqual([false, true]);
  expect((await db.selectFrom("resources").select("status").where("resource_id", "=", resourceId).executeTakeFirstOrThrow()).status).toBe("active");
  expect(await drydock.worker.runNow(`lease-${leaseId}`)).toBe(true);
  expect((await getLease(db, leaseId)).status).toBe("active");
  expect(errors).toEqual([]);
});
