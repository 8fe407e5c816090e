import { STATE_CODES, type EmulatedInstance, type InstanceStateName, type Reservation } from "./fleet";
import { itemSet, leaf, node } from "./xml";

/**
 * EC2's XML for instances, with the member names of the ec2Query protocol (the `xmlName` and
 * `ec2QueryName` traits in the SDK's schemas): `instancesSet`, `instanceState`, `tagSet`, and
 * `ipAddress` for what the SDK calls PublicIpAddress.
 */
export function instanceState(state: InstanceStateName): string {
  return leaf("code", STATE_CODES[state]) + leaf("name", state);
}

export function instanceXml(instance: EmulatedInstance, availabilityZone: string): string {
  const { spec } = instance;
  return [
    leaf("instanceId", instance.instanceId),
    leaf("imageId", spec.imageId),
    node("instanceState", instanceState(instance.state)),
    leaf("privateDnsName", `${instance.hostname}.ec2.internal`),
    leaf("dnsName", ""),
    leaf("reason", instance.stateReason && instance.state !== "running" ? instance.stateReason.message : ""),
    leaf("keyName", spec.keyName),
    leaf("amiLaunchIndex", instance.launchIndex),
    leaf("instanceType", spec.instanceType),
    leaf("launchTime", instance.launchTime.toISOString()),
    node("placement", leaf("availabilityZone", availabilityZone), leaf("tenancy", "default")),
    node("monitoring", leaf("state", "disabled")),
    leaf("subnetId", spec.subnetId),
    leaf("vpcId", spec.subnetId ? "vpc-0e0e0e0e0e0e0e0e0" : undefined),
    leaf("privateIpAddress", instance.address),
    leaf("ipAddress", instance.state === "running" ? instance.address : undefined),
    itemSet("groupSet", spec.securityGroupIds, (id) => leaf("groupId", id)),
    instance.stateReason && instance.state !== "running" ? node("stateReason", leaf("code", instance.stateReason.code), leaf("message", instance.stateReason.message)) : "",
    leaf("architecture", "x86_64"),
    leaf("rootDeviceType", "ebs"),
    leaf("rootDeviceName", "/dev/sda1"),
    leaf("virtualizationType", "hvm"),
    leaf("clientToken", spec.clientToken),
    spec.iamInstanceProfile ? node("iamInstanceProfile", leaf("arn", spec.iamInstanceProfile)) : "",
    instance.tags.size > 0 ? itemSet("tagSet", [...instance.tags], ([key, value]) => leaf("key", key) + leaf("value", value)) : "",
    leaf("instanceLifecycle", spec.spot ? "spot" : undefined),
    leaf("hypervisor", "xen"),
  ].join("");
}

/** A reservation as RunInstances answers it (top level) and DescribeInstances lists it (an item). */
export function reservationXml(reservation: Reservation, instances: readonly EmulatedInstance[], availabilityZone: string): string {
  return (
    leaf("reservationId", reservation.reservationId) +
    leaf("ownerId", reservation.ownerId) +
    itemSet("groupSet", [], () => "") +
    itemSet("instancesSet", instances, (i) => instanceXml(i, availabilityZone))
  );
}
