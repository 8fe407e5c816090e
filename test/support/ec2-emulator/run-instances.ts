import type { ActionContext } from "./action-context";
import { Ec2Error } from "./ec2-error";
import type { LaunchSpec } from "./fleet";
import type { QueryParams } from "./query-params";
import { reservationXml } from "./render";

/**
 * RunInstances. A ClientToken makes it idempotent, as in EC2: a second call with the same token
 * and the same parameters answers the first call's reservation (its instances as they are now)
 * and launches nothing; with other parameters it fails with IdempotentParameterMismatch. A call
 * that failed launched nothing and leaves its token unused.
 */
export function runInstances(params: QueryParams, context: ActionContext): string {
  const token = params.string("ClientToken");
  const digest = digestOf(params);
  if (token !== undefined) {
    const earlier = context.fleet.byClientToken(token);
    if (earlier) {
      if (earlier.digest !== digest) throw new Ec2Error("IdempotentParameterMismatch");
      return reservationXml(earlier, earlier.instances, context.availabilityZone);
    }
  }
  const minCount = params.int("MinCount");
  const maxCount = params.int("MaxCount");
  if (minCount === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter MinCount");
  if (maxCount === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter MaxCount");
  if (minCount < 1 || maxCount < minCount) throw new Ec2Error("InvalidParameterValue", `Value (${minCount}) for parameter minCount is invalid. Expected 1 <= MinCount <= MaxCount.`);
  const spec = launchSpec(params, context);
  const reservation = context.fleet.launch(spec, maxCount, digest);
  return reservationXml(reservation, reservation.instances, context.availabilityZone);
}

function launchSpec(params: QueryParams, context: ActionContext): LaunchSpec {
  const templateParams = params.struct("LaunchTemplate");
  const launchTemplate = templateParams
    ? { id: templateParams.string("LaunchTemplateId"), name: templateParams.string("LaunchTemplateName"), version: templateParams.string("Version") }
    : undefined;
  const template = launchTemplate ? findTemplate(launchTemplate, context) : undefined;

  const imageId = params.string("ImageId") ?? template?.imageId;
  if (imageId === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter ImageId");
  if (!/^ami-[0-9a-zA-Z]+$/.test(imageId)) throw new Ec2Error("InvalidAMIID.Malformed", `Invalid id: "${imageId}" (expecting "ami-...")`);
  const instanceType = params.string("InstanceType") ?? template?.instanceType ?? "m1.small";

  const subnetId = params.string("SubnetId");
  if (subnetId !== undefined && !/^subnet-[0-9a-zA-Z]+$/.test(subnetId)) throw new Ec2Error("InvalidSubnetID.NotFound", `The subnet ID '${subnetId}' does not exist`);
  const securityGroupIds = params.list("SecurityGroupId");
  for (const id of securityGroupIds) if (!/^sg-[0-9a-zA-Z]+$/.test(id)) throw new Ec2Error("InvalidGroupId.Malformed", `Invalid id: "${id}" (expecting "sg-...")`);
  const keyName = params.string("KeyName");
  if (keyName !== undefined && keyName !== context.keyName) throw new Ec2Error("InvalidKeyPair.NotFound", `The key pair '${keyName}' does not exist`);

  const tags = new Map<string, string>();
  for (const spec of params.structs("TagSpecification")) {
    const resourceType = spec.string("ResourceType");
    if (resourceType !== "instance") continue;
    for (const tag of spec.structs("Tag")) {
      const key = tag.string("Key");
      if (key === undefined) throw new Ec2Error("InvalidParameterValue", "Tag key must not be empty");
      if (key.startsWith("aws:")) throw new Ec2Error("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use");
      tags.set(key, tag.string("Value") ?? "");
    }
  }
  const profile = params.struct("IamInstanceProfile");
  return {
    imageId,
    instanceType,
    subnetId,
    securityGroupIds,
    keyName,
    userData: params.string("UserData"),
    clientToken: params.string("ClientToken"),
    launchTemplate,
    iamInstanceProfile: profile?.string("Arn") ?? profile?.string("Name"),
    spot: params.string("InstanceMarketOptions.MarketType") === "spot",
    tags,
  };
}

function findTemplate(wanted: { id?: string; name?: string }, context: ActionContext) {
  if (wanted.id === undefined && wanted.name === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter LaunchTemplateId or LaunchTemplateName");
  // No templates configured: any template exists, with an emulated image and type.
  if (context.launchTemplates === null) return { id: wanted.id ?? "lt-0e0e0e0e0e0e0e0e0", name: wanted.name ?? "emulated", imageId: "ami-0e0e0e0e0e0e0e0e0", instanceType: "t3.micro" };
  if (wanted.id !== undefined) {
    const found = context.launchTemplates.find((t) => t.id === wanted.id);
    if (!found) throw new Ec2Error("InvalidLaunchTemplateId.NotFound", `The specified launch template, with template ID ${wanted.id}, does not exist.`);
    return found;
  }
  const found = context.launchTemplates.find((t) => t.name === wanted.name);
  if (!found) throw new Ec2Error("InvalidLaunchTemplateName.NotFoundException", `The specified launch template, with template name ${wanted.name}, does not exist.`);
  return found;
}

/** The request's parameters but ClientToken, canonical: what a retry must repeat. */
function digestOf(params: QueryParams): string {
  const entries = [...params.all()].filter(([key]) => key !== "ClientToken").sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(entries);
}
