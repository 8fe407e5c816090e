/**
 * A JSON value as a jsonb column gives it back: what JSON keeps of it (no undefined, no
 * non-finite number), with each object's keys in jsonb's order, shorter keys first and keys of
 * one length by their UTF-8 bytes. A record built from values in hand then serializes to the
 * same text as one read from a jsonb column (test/integration/lease-answers.test.ts checks both
 * databases).
 */
export function asJsonb<T>(value: T): T {
  return inJsonbKeyOrder(JSON.parse(JSON.stringify(value) ?? "null")) as T;
}

function inJsonbKeyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(inJsonbKeyOrder);
  if (value === null || typeof value !== "object") return value;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort(compareJsonbKeys);
  return Object.fromEntries(keys.map((key) => [key, inJsonbKeyOrder(object[key])]));
}

function compareJsonbKeys(a: string, b: string): number {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length - y.length || Buffer.compare(x, y);
}
