/**
 * EC2's error codes sorted into what Drydock does about them.
 *
 * - capacity: this instance type (or subnet, or market) has none now: try the next shape, and if
 *   none has any, back off and try again later (temporary);
 * - throttled: too many calls, or EC2 unavailable, or an answer lost: back off (temporary);
 * - configuration: only a change of the blueprint's config (or of the account) can help: the
 *   resource breaks with EC2's code and message, and the blueprint records the failure so the
 *   next lease does not walk into the same wall (permanent);
 * - unknown: temporary, but only a few times (failures.ts).
 */
import { CapacityShortage, PermanentFailure, TemporaryFailure } from "../failures";
import type { Ec2ApiError } from "./ec2-cloud";

export type Ec2ErrorKind = "capacity" | "throttled" | "configuration" | "unknown";

const CAPACITY = new Set([
  "InsufficientInstanceCapacity",
  "InsufficientCapacity",
  "InsufficientHostCapacity",
  "InsufficientAddressCapacity",
  "InstanceLimitExceeded",
  "VcpuLimitExceeded",
  "MaxSpotInstanceCountExceeded",
  "SpotMaxPriceTooLow",
  "InsufficientFreeAddressesInSubnet",
  "Unsupported",
]);
const THROTTLED = new Set(["RequestLimitExceeded", "Throttling", "ThrottlingException", "Unavailable", "ServiceUnavailable", "InternalError", "RequestLost", "RequestExpired"]);
const CONFIGURATION_EXACT = new Set([
  "NoCredentials",
  "UnauthorizedOperation",
  "AuthFailure",
  "OptInRequired",
  "Blocked",
  "InvalidParameterValue",
  "InvalidParameterCombination",
  "InvalidParameter",
  "MissingParameter",
  "IdempotentParameterMismatch",
  "InvalidUserData.Malformed",
  "InvalidBlockDeviceMapping",
  "PendingVerification",
  "SignatureDoesNotMatch",
  "InvalidClientTokenId",
  "UnrecognizedClientException",
]);
/** Prefixes of "that does not exist / is malformed" codes: a wrong AMI, subnet, group, key pair, template, profile. */
const CONFIGURATION_PREFIXES = ["InvalidAMIID.", "InvalidSubnetID.", "InvalidSubnet.", "InvalidGroup.", "InvalidGroupId.", "InvalidKeyPair.", "InvalidLaunchTemplateId.", "InvalidLaunchTemplateName.", "InvalidInstanceType", "InvalidIamInstanceProfile", "InvalidSecurityGroupID."];

export function ec2ErrorKind(error: Pick<Ec2ApiError, "code" | "httpStatus">): Ec2ErrorKind {
  const { code } = error;
  if (CAPACITY.has(code)) return "capacity";
  if (THROTTLED.has(code)) return "throttled";
  if (CONFIGURATION_EXACT.has(code) || CONFIGURATION_PREFIXES.some((p) => code.startsWith(p))) return "configuration";
  if (error.httpStatus !== null && error.httpStatus >= 500) return "throttled";
  return "unknown";
}

/** What a blueprint's configuration errors are recorded against (BlueprintTargetFailed): its launch settings. */
export const LAUNCH_TARGET = "launch";

/** Throttling: wait at least this long (EC2 refills its request buckets over seconds). */
const THROTTLE_RETRY_MS = 2_000;
/** No capacity anywhere: EC2's capacity comes back over minutes, not milliseconds. */
export const CAPACITY_RETRY_MS = 30_000;

/** The provider failure for an EC2 error, with EC2's code as the failure's code and in its message. */
export function ec2Failure(error: Ec2ApiError, doing: string): TemporaryFailure | PermanentFailure | Error {
  const message = `${doing}: ${error.code}: ${error.message}`;
  const kind = ec2ErrorKind(error);
  switch (kind) {
    case "capacity":
      return new CapacityShortage(message, error.code, CAPACITY_RETRY_MS, { target: LAUNCH_TARGET, configuration: false });
    case "throttled":
      return new TemporaryFailure(message, error.code, THROTTLE_RETRY_MS);
    case "configuration":
      return new PermanentFailure(message, error.code, { target: LAUNCH_TARGET, configuration: true });
    case "unknown":
      // Counted as an unknown failure: retried a few times, then permanent (failures.ts).
      return Object.assign(new Error(message), { code: error.code });
    default: {
      const never: never = kind;
      throw new Error(`unknown error kind ${String(never)}`);
    }
  }
}
