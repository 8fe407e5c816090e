import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/domain/errors";
import { DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT_MS, execLimits } from "../../src/interfaces/command-interface";

/** What a refusal says: its field and its message, as the API would answer it. */
function refusal(options: Parameters<typeof execLimits>[0]): { field: unknown; message: string } {
  try {
    execLimits(options);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return { field: error.details?.field, message: error.message };
  }
  throw new Error(`not refused: ${JSON.stringify(options)}`);
}

describe("a command's limits (both adapters check them here)", () => {
  it("are the defaults when the caller gives none, and the caller's when given", () => {
    expect(execLimits({})).toEqual({ timeoutMs: DEFAULT_TIMEOUT_MS, maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES });
    expect(execLimits({ timeoutMs: 500, maxOutputBytes: 0 })).toEqual({ timeoutMs: 500, maxOutputBytes: 0 });
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2_147_483_648])("refuse a timeout of %s, naming timeoutMs", (timeoutMs) => {
    expect(refusal({ timeoutMs })).toEqual({ field: "timeoutMs", message: "timeoutMs must be between 1 and 2147483647" });
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53])("refuse an output bound of %s, naming maxOutputBytes", (maxOutputBytes) => {
    expect(refusal({ maxOutputBytes })).toEqual({ field: "maxOutputBytes", message: "maxOutputBytes must be a non-negative integer" });
  });
});
