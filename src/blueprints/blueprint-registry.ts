import { ValidationError } from "../domain/errors";
import type { BlueprintImplementation } from "./blueprint";

/** The blueprint implementations this service knows, by kind. */
export class BlueprintRegistry {
  private readonly byKind = new Map<string, BlueprintImplementation>();
  /** Parsed configs by blueprint id, each with the blueprint version it was parsed at. */
  private readonly parsed = new Map<string, { version: number; config: Record<string, unknown> }>();

  constructor(implementations: readonly BlueprintImplementation[] = []) {
    for (const impl of implementations) this.register(impl);
  }

  register(impl: BlueprintImplementation): void {
    this.byKind.set(impl.kind, impl);
  }

  get(kind: string): BlueprintImplementation {
    const impl = this.byKind.get(kind);
    if (!impl) throw new ValidationError(`kind: unknown blueprint kind ${JSON.stringify(kind)}`, { field: "kind", known: this.kinds() });
    return impl;
  }

  /**
   * A stored blueprint's config, parsed by its kind. A config changes only with an event, which
   * moves the blueprint's version, so one parse serves every read of the same version: a lease
   * cycle reads its blueprint three times (the request, the allocation, the teardown). The parsed
   * config is frozen, as every reader of that version shares it.
   */
  configOf(row: { blueprint_id: string; kind: string; version: number; config: unknown }): Record<string, unknown> {
    const cached = this.parsed.get(row.blueprint_id);
    if (cached !== undefined && cached.version === row.version) return cached.config;
    const config = deepFreeze(this.get(row.kind).parseConfig(row.config));
    this.parsed.set(row.blueprint_id, { version: row.version, config });
    return config;
  }

  has(kind: string): boolean {
    return this.byKind.has(kind);
  }

  kinds(): string[] {
    return [...this.byKind.keys()].sort();
  }

  /** The kinds whose resources get periodic health checks. */
  healthCheckedKinds(): string[] {
    return this.kinds().filter((kind) => this.byKind.get(kind)!.checkHealth !== undefined);
  }

  /** Lets every implementation release what it holds (connections) when the service stops. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.byKind.values()].map((impl) => impl.close?.()));
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
