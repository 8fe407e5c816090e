import { Ec2Error } from "./ec2-error";

/**
 * The parameters of one EC2 Query API request, as the SDK's ec2Query protocol sends them: a flat
 * form (`Action=RunInstances&TagSpecification.1.Tag.1.Key=…`) in which lists are flattened with
 * 1-based indexes (`InstanceId.1`, `InstanceId.2`) and structures with dotted member names
 * (`LaunchTemplate.LaunchTemplateId`). A view can be narrowed to a prefix to read nested members.
 */
export class QueryParams {
  private constructor(private readonly entries: ReadonlyMap<string, string>) {}

  static parse(body: string): QueryParams {
    const entries = new Map<string, string>();
    for (const [key, value] of new URLSearchParams(body)) entries.set(key, value);
    return new QueryParams(entries);
  }

  /** Every parameter, for a canonical digest of the request (ClientToken idempotency). */
  all(): ReadonlyMap<string, string> {
    return this.entries;
  }

  string(name: string): string | undefined {
    return this.entries.get(name);
  }

  required(name: string): string {
    const value = this.entries.get(name);
    if (value === undefined || value === "") throw new Ec2Error("MissingParameter", `The request must contain the parameter ${name}`);
    return value;
  }

  int(name: string): number | undefined {
    const value = this.entries.get(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n)) throw new Ec2Error("InvalidParameterValue", `Value (${value}) for parameter ${name} is invalid. Expected an integer.`);
    return n;
  }

  bool(name: string): boolean | undefined {
    const value = this.entries.get(name);
    return value === undefined ? undefined : value === "true";
  }

  /** `prefix.1`, `prefix.2`, … in index order (gaps allowed, as the protocol does not promise none). */
  list(prefix: string): string[] {
    return this.indexes(prefix)
      .map((i) => this.entries.get(`${prefix}.${i}`))
      .filter((v): v is string => v !== undefined);
  }

  /** `prefix.N.*` as one view per N, each with `prefix.N.` stripped. */
  structs(prefix: string): QueryParams[] {
    return this.indexes(prefix).map((i) => this.struct(`${prefix}.${i}`)!);
  }

  /** `prefix.*` with `prefix.` stripped, or undefined when no member is set. */
  struct(prefix: string): QueryParams | undefined {
    const inner = new Map<string, string>();
    const head = `${prefix}.`;
    for (const [key, value] of this.entries) if (key.startsWith(head)) inner.set(key.slice(head.length), value);
    return inner.size > 0 ? new QueryParams(inner) : undefined;
  }

  private indexes(prefix: string): number[] {
    const found = new Set<number>();
    const head = `${prefix}.`;
    for (const key of this.entries.keys()) {
      if (!key.startsWith(head)) continue;
      const index = Number(key.slice(head.length).split(".")[0]);
      if (Number.isInteger(index) && index > 0) found.add(index);
    }
    return [...found].sort((a, b) => a - b);
  }
}
