import { describe, expect, it } from "vitest";
import {
  classifyFailure,
  MAX_TEMPORARY_FAILURES,
  MAX_UNKNOWN_FAILURES,
  PermanentFailure,
  TemporaryFailure,
} from "../../src/blueprints/failures";

/** failuresSoFar counts the failures before this one, so this is failure number failuresSoFar + 1. */
function kinds(error: unknown, upTo: number): string[] {
  return Array.from({ length: upTo }, (_, soFar) => classifyFailure(error, soFar).kind);
}

describe("classifyFailure", () => {
  it("sanity: the limits leave room for retries", () => {
    expect(MAX_UNKNOWN_FAILURES).toBeGreaterThan(1);
    expect(MAX_TEMPORARY_FAILURES).toBeGreaterThan(MAX_UNKNOWN_FAILURES);
  });

  it("a TemporaryFailure is temporary until the MAX_TEMPORARY_FAILURES-th failure in a row, then permanent", () => {
    const error = new TemporaryFailure("provider busy");
    const seq = kinds(error, MAX_TEMPORARY_FAILURES + 2);
    expect(seq.slice(0, MAX_TEMPORARY_FAILURES - 1).every((k) => k === "temporary")).toBe(true);
    expect(seq.slice(MAX_TEMPORARY_FAILURES - 1).every((k) => k === "permanent")).toBe(true);
    expect(classifyFailure(error, MAX_TEMPORARY_FAILURES - 2).kind).toBe("temporary");
    expect(classifyFailure(error, MAX_TEMPORARY_FAILURES - 1).kind).toBe("permanent");
  });

  it("a PermanentFailure is permanent at once", () => {
    const error = new PermanentFailure("image does not exist");
    expect(classifyFailure(error, 0)).toEqual({ kind: "permanent", code: "permanent", message: "image does not exist" });
    expect(kinds(error, 5).every((k) => k === "permanent")).toBe(true);
  });

  it("an unknown error is temporary for MAX_UNKNOWN_FAILURES - 1 failures, then permanent", () => {
    const error = new Error("ECONNRESET somewhere");
    const seq = kinds(error, MAX_UNKNOWN_FAILURES + 2);
    expect(seq.filter((k) => k === "temporary")).toHaveLength(MAX_UNKNOWN_FAILURES - 1);
    expect(seq.slice(0, MAX_UNKNOWN_FAILURES - 1).every((k) => k === "temporary")).toBe(true);
    expect(seq.slice(MAX_UNKNOWN_FAILURES - 1).every((k) => k === "permanent")).toBe(true);
  });

  it("a TemporaryFailure carries its code, message and retryAfterMs", () => {
    const error = new TemporaryFailure("quota reached", "quota", 90_000);
    expect(error.name).toBe("TemporaryFailure");
    expect(error).toBeInstanceOf(Error);
    expect(classifyFailure(error, 0)).toEqual({ kind: "temporary", code: "quota", message: "quota reached", retryAfterMs: 90_000 });
    // The hint stays when the failure turns permanent.
    expect(classifyFailure(error, MAX_TEMPORARY_FAILURES)).toEqual({ kind: "permanent", code: "quota", message: "quota reached", retryAfterMs: 90_000 });
  });

  it("a TemporaryFailure without a hint has default code and no retryAfterMs", () => {
    const c = classifyFailure(new TemporaryFailure("busy"), 0);
    expect(c).toEqual({ kind: "temporary", code: "temporary", message: "busy" });
    expect("retryAfterMs" in c).toBe(false);
  });

  it("a PermanentFailure carries its code", () => {
    const error = new PermanentFailure("bad credentials", "auth");
    expect(error.name).toBe("PermanentFailure");
    expect(classifyFailure(error, 3)).toEqual({ kind: "permanent", code: "auth", message: "bad credentials" });
  });

  it("an unknown error carries a string code, or 'error'", () => {
    const withCode = Object.assign(new Error("no such file"), { code: "ENOENT" });
    expect(classifyFailure(withCode, 0)).toEqual({ kind: "temporary", code: "ENOENT", message: "no such file" });
    const numericCode = Object.assign(new Error("exit"), { code: 127 });
    expect(classifyFailure(numericCode, 0).code).toBe("error");
    expect(classifyFailure(new Error("plain"), 0).code).toBe("error");
  });

  it("a thrown non-Error is classified by its string form", () => {
    expect(classifyFailure("something odd", 0)).toEqual({ kind: "temporary", code: "error", message: "something odd" });
    expect(classifyFailure(undefined, 0)).toEqual({ kind: "temporary", code: "error", message: "undefined" });
    expect(classifyFailure(null, MAX_UNKNOWN_FAILURES - 1)).toEqual({ kind: "permanent", code: "error", message: "null" });
    expect(classifyFailure({ code: "EPIPE" }, 0)).toMatchObject({ kind: "temporary", code: "EPIPE" });
  });

  it("unknown errors never carry retryAfterMs", () => {
    expect("retryAfterMs" in classifyFailure(Object.assign(new Error("x"), { retryAfterMs: 5 }), 0)).toBe(false);
  });
});
