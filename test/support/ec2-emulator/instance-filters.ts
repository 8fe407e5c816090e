import { Ec2Error } from "./ec2-error";
import { STATE_CODES, type EmulatedInstance } from "./fleet";
import type { QueryParams } from "./query-params";

/**
 * DescribeInstances' and DescribeInstanceStatus' `Filter.N.Name` / `Filter.N.Value.M`: the
 * values of one filter are OR'ed, the filters AND'ed; values may use EC2's wildcards `*` and `?`.
 */
export type InstancePredicate = (instance: EmulatedInstance) => boolean;

export function instanceFilters(params: QueryParams): InstancePredicate {
  const predicates = params.structs("Filter").map((filter) => {
    const name = filter.string("Name");
    if (name === undefined) throw new Ec2Error("InvalidParameterValue", "The filter name must not be empty");
    const patterns = filter.list("Value").map(globToRegExp);
    const field = fieldOf(name);
    return (instance: EmulatedInstance) => field(instance).some((value) => patterns.some((p) => p.test(value)));
  });
  return (instance) => predicates.every((p) => p(instance));
}

function fieldOf(name: string): (instance: EmulatedInstance) => string[] {
  if (name.startsWith("tag:")) {
    const key = name.slice(4);
    return (i) => (i.tags.has(key) ? [i.tags.get(key)!] : []);
  }
  switch (name) {
    case "tag-key":
      return (i) => [...i.tags.keys()];
    case "tag-value":
      return (i) => [...i.tags.values()];
    case "instance-id":
      return (i) => [i.instanceId];
    case "instance-state-name":
      return (i) => [i.state];
    case "instance-state-code":
      return (i) => [String(STATE_CODES[i.state])];
    case "client-token":
      return (i) => (i.spec.clientToken !== undefined ? [i.spec.clientToken] : []);
    case "instance-type":
      return (i) => [i.spec.instanceType];
    case "image-id":
      return (i) => [i.spec.imageId];
    case "subnet-id":
      return (i) => (i.spec.subnetId !== undefined ? [i.spec.subnetId] : []);
    case "reservation-id":
      return (i) => [i.reservationId];
    case "private-ip-address":
      return (i) => [i.address];
    default:
      throw new Ec2Error("InvalidParameterValue", `The filter '${name}' is invalid`);
  }
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`);
}

/** `InstanceId.N`: every id must exist, or the call fails naming the missing ones (as EC2 does). */
export function requireInstances(ids: readonly string[], lookup: (id: string) => EmulatedInstance | undefined): EmulatedInstance[] {
  const missing = ids.filter((id) => lookup(id) === undefined);
  if (missing.length > 0) {
    const malformed = missing.find((id) => !/^i-[0-9a-f]{8,17}$/.test(id));
    if (malformed) throw new Ec2Error("InvalidInstanceID.Malformed", `Invalid id: "${malformed}"`);
    throw new Ec2Error("InvalidInstanceID.NotFound", `The instance ID${missing.length > 1 ? "s" : ""} '${missing.join(", ")}' ${missing.length > 1 ? "do" : "does"} not exist`);
  }
  return ids.map((id) => lookup(id)!);
}
