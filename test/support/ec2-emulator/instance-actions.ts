import type { ActionContext } from "./action-context";
import { Ec2Error } from "./ec2-error";
import type { EmulatedInstance } from "./fleet";
import { instanceFilters, requireInstances } from "./instance-filters";
import type { QueryParams } from "./query-params";
import { instanceState, reservationXml } from "./render";
import { itemSet, leaf, node } from "./xml";

/** DescribeInstances: by id and filters, grouped by reservation; MaxResults/NextToken page over instances. */
export function describeInstances(params: QueryParams, context: ActionContext): string {
  const ids = params.list("InstanceId");
  const wanted = ids.length > 0 ? new Set(requireInstances(ids, (id) => context.fleet.get(id)).map((i) => i.instanceId)) : null;
  const matches = instanceFilters(params);
  const selected = context.fleet.instances().filter((i) => (wanted === null || wanted.has(i.instanceId)) && matches(i));

  const maxResults = params.int("MaxResults");
  if (maxResults !== undefined && ids.length > 0) throw new Ec2Error("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults");
  const start = Number(params.string("NextToken") ?? "0");
  if (!Number.isInteger(start) || start < 0) throw new Ec2Error("InvalidParameterValue", "Invalid value for NextToken");
  const page = maxResults === undefined ? selected : selected.slice(start, start + maxResults);
  const next = maxResults !== undefined && start + maxResults < selected.length ? String(start + maxResults) : undefined;

  const reservations = context.fleet.reservations().filter((r) => r.instances.some((i) => page.includes(i)));
  return (
    itemSet("reservationSet", reservations, (r) =>
      reservationXml(
        r,
        r.instances.filter((i) => page.includes(i)),
        context.availabilityZone,
      ),
    ) + leaf("nextToken", next)
  );
}

/** TerminateInstances: every instance goes to shutting-down (then terminated); answers previous and current states. */
export function terminateInstances(params: QueryParams, context: ActionContext): string {
  const ids = params.list("InstanceId");
  if (ids.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter InstanceId");
  const instances = requireInstances(ids, (id) => context.fleet.get(id));
  const changes = instances.map((instance) => ({ instance, previous: context.fleet.terminate(instance) }));
  return itemSet(
    "instancesSet",
    changes,
    ({ instance, previous }) => leaf("instanceId", instance.instanceId) + node("currentState", instanceState(instance.state)) + node("previousState", instanceState(previous)),
  );
}

/** CreateTags on instances (other resource ids are accepted and ignored). */
export function createTags(params: QueryParams, context: ActionContext): string {
  const ids = params.list("ResourceId");
  if (ids.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter ResourceId");
  const tags = params.structs("Tag").map((t) => [t.required("Key"), t.string("Value") ?? ""] as const);
  const instances = requireInstances(
    ids.filter((id) => id.startsWith("i-")),
    (id) => context.fleet.get(id),
  );
  for (const instance of instances) for (const [key, value] of tags) instance.tags.set(key, value);
  return leaf("return", true);
}

/** GetConsoleOutput: base64 of the console text; no `output` until the instance has booted. */
export function getConsoleOutput(params: QueryParams, context: ActionContext): string {
  const [instance] = requireInstances([params.required("InstanceId")], (id) => context.fleet.get(id));
  const text = context.fleet.consoleOutput(instance!);
  return (
    leaf("instanceId", instance!.instanceId) +
    leaf("timestamp", (instance!.bootedAt ?? new Date()).toISOString()) +
    leaf("output", text === null ? undefined : Buffer.from(text, "utf8").toString("base64"))
  );
}

/** DescribeInstanceStatus: running instances only, unless IncludeAllInstances. */
export function describeInstanceStatus(params: QueryParams, context: ActionContext): string {
  const ids = params.list("InstanceId");
  const candidates = ids.length > 0 ? requireInstances(ids, (id) => context.fleet.get(id)) : context.fleet.instances();
  const includeAll = params.bool("IncludeAllInstances") === true;
  const matches = instanceFilters(params);
  const selected = candidates.filter((i) => (includeAll || i.state === "running") && matches(i));
  return itemSet("instanceStatusSet", selected, (i) => statusXml(i, context.availabilityZone));
}

function statusXml(instance: EmulatedInstance, availabilityZone: string): string {
  const status = instance.state === "running" ? "ok" : "not-applicable";
  const check = (name: string) =>
    node(name, leaf("status", status), itemSet("details", status === "ok" ? [1] : [], () => leaf("name", "reachability") + leaf("status", "passed")));
  return (
    leaf("instanceId", instance.instanceId) +
    leaf("availabilityZone", availabilityZone) +
    node("instanceState", instanceState(instance.state)) +
    check("systemStatus") +
    check("instanceStatus")
  );
}
