import type { DrydockError } from "../client/http";

/**
 * An API error as the CLI prints it: the message with its status and code, then every detail
 * the message does not already say, one per line. Lists of objects (the 422's blueprints, a
 * 400's issues) print one item per line, its values joined by ": ".
 */
export function describeApiError(error: DrydockError): string[] {
  const lines = [`drydock: ${error.message} (${error.status} ${error.code})`];
  const said = (text: string) => error.message.includes(text);
  for (const [key, value] of Object.entries(error.details)) {
    if (Array.isArray(value)) {
      const items = value.map(itemText).filter((text) => text !== "" && !said(text));
      if (items.length === 0) continue;
      if (value.every((v) => typeof v !== "object" || v === null)) lines.push(`  ${key}: ${items.join(", ")}`);
      else lines.push(`  ${key}:`, ...items.map((text) => `    ${text}`));
    } else if (value !== null && value !== undefined) {
      const text = itemText(value);
      if (text !== "" && !said(text)) lines.push(`  ${key}: ${text}`);
    }
  }
  return lines;
}

function itemText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const values = Object.values(value as Record<string, unknown>);
    if (values.every((v) => typeof v === "string" || typeof v === "number" || typeof v === "boolean")) return values.join(": ");
  }
  return JSON.stringify(value);
}
