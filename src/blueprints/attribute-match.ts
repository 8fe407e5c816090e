import { no, yes, type Verdict } from "./blueprint";

/**
 * Does a resource satisfy a lease's attributes? `labels` asks for a subset; every other key
 * asks for an equal value. A key the resource lacks is a mismatch, so a typo never matches.
 */
export function matchAttributes(wanted: Record<string, unknown>, offered: Record<string, unknown>): Verdict {
  for (const [key, value] of Object.entries(wanted)) {
    if (key === "labels") {
      const have = Array.isArray(offered.labels) ? (offered.labels as unknown[]) : [];
      const need = Array.isArray(value) ? value : [value];
      const missing = need.filter((l) => !have.includes(l));
      if (missing.length > 0) return no(`lacks labels ${missing.join(", ")}`);
      continue;
    }
    if (!(key in offered)) return no(`has no attribute ${key}`);
    if (JSON.stringify(offered[key]) !== JSON.stringify(value)) {
      return no(`${key} is ${JSON.stringify(offered[key])}, lease wants ${JSON.stringify(value)}`);
    }
  }
  return yes;
}
