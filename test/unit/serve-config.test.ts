import { describe, expect, it } from "vitest";
import { serveConfigFrom } from "../../src/cli/config";

describe("serveConfigFrom: DRYDOCK_PG_PREPARED", () => {
  it("prepares statements on PostgreSQL unless turned off, and refuses a bad value by name", () => {
    expect(serveConfigFrom({}).preparedStatements).toBe(true);
    expect(serveConfigFrom({ DRYDOCK_PG_PREPARED: "1" }).preparedStatements).toBe(true);
    expect(serveConfigFrom({ DRYDOCK_PG_PREPARED: "0" }).preparedStatements).toBe(false);
    expect(() => serveConfigFrom({ DRYDOCK_PG_PREPARED: "yes" })).toThrow(/DRYDOCK_PG_PREPARED must be a whole number from 0 to 1/);
  });
});

describe("serveConfigFrom: DRYDOCK_KEPT_VIEWS", () => {
  it("keeps capacity views for the optimistic acquire unless turned off, and refuses a bad value by name", () => {
    expect(serveConfigFrom({}).keepCapacityViews).toBe(true);
    expect(serveConfigFrom({ DRYDOCK_KEPT_VIEWS: "0" }).keepCapacityViews).toBe(false);
    expect(() => serveConfigFrom({ DRYDOCK_KEPT_VIEWS: "off" })).toThrow(/DRYDOCK_KEPT_VIEWS must be a whole number from 0 to 1/);
  });
});
