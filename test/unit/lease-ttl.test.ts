import { describe, expect, it } from "vitest";
import { serveConfigFrom } from "../../src/cli/config";
import { blueprintTtlApplies, DEFAULT_LEASE_TTL_SECONDS, resolveRequestTtl } from "../../src/domain/lease-ttl";

describe("a new lease's TTL: request > token > (blueprint, on acquisition) > service", () => {
  it("the request's own TTL wins, null (no TTL) included", () => {
    expect(resolveRequestTtl(30, 120, 3600)).toEqual({ ttlSeconds: 30, source: "request" });
    expect(resolveRequestTtl(null, 120, 3600)).toEqual({ ttlSeconds: null, source: "request" });
  });

  it("then the token's default, then the service's", () => {
    expect(resolveRequestTtl(undefined, 120, 3600)).toEqual({ ttlSeconds: 120, source: "client" });
    expect(resolveRequestTtl(undefined, null, 3600)).toEqual({ ttlSeconds: 3600, source: "service" });
    expect(resolveRequestTtl(undefined, undefined, null)).toEqual({ ttlSeconds: null, source: "service" });
  });

  it("a blueprint's default replaces only a default TTL", () => {
    expect(blueprintTtlApplies("service", 600)).toBe(true);
    expect(blueprintTtlApplies("blueprint", 600)).toBe(true);
    for (const source of ["request", "client", "renewal", undefined] as const) expect(blueprintTtlApplies(source, 600)).toBe(false);
    expect(blueprintTtlApplies("service", null)).toBe(false);
    expect(blueprintTtlApplies("service", undefined)).toBe(false);
  });
});

describe("DRYDOCK_DEFAULT_LEASE_TTL", () => {
  it("defaults to 3600 s; 0 turns the service default off", () => {
    expect(DEFAULT_LEASE_TTL_SECONDS).toBe(3600);
    expect(serveConfigFrom({}).defaultLeaseTtlSeconds).toBe(3600);
    expect(serveConfigFrom({ DRYDOCK_DEFAULT_LEASE_TTL: "900" }).defaultLeaseTtlSeconds).toBe(900);
    expect(serveConfigFrom({ DRYDOCK_DEFAULT_LEASE_TTL: "0" }).defaultLeaseTtlSeconds).toBeNull();
  });

  it("refuses what is not a whole number of seconds up to 30 days, naming the variable", () => {
    for (const bad of ["-1", "1.5", "abc", "2592001"]) {
      expect(() => serveConfigFrom({ DRYDOCK_DEFAULT_LEASE_TTL: bad })).toThrow(/^DRYDOCK_DEFAULT_LEASE_TTL must be a whole number from 0 to 2592000/);
    }
  });
});
