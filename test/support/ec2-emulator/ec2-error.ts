import { xmlEscape } from "./xml";

/**
 * An error as EC2 returns it: a code (the SDK turns it into the exception's `name` and `Code`),
 * a message, and the HTTP status EC2 uses for it. EC2 sorts its codes into client errors (400)
 * and server errors: capacity shortages and InternalError are 500, throttling and Unavailable 503.
 */
export class Ec2Error extends Error {
  readonly status: number;
  constructor(
    readonly code: string,
    message?: string,
    status?: number,
  ) {
    super(message ?? DEFAULT_MESSAGES[code] ?? `${code} (emulated)`);
    this.name = "Ec2Error";
    this.status = status ?? statusOf(code);
  }
}

/** EC2's server error codes (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html). */
const SERVER_ERRORS: Readonly<Record<string, number>> = {
  InternalError: 500,
  InsufficientInstanceCapacity: 500,
  InsufficientCapacity: 500,
  InsufficientAddressCapacity: 500,
  InsufficientHostCapacity: 500,
  RequestLimitExceeded: 503,
  Unavailable: 503,
  ServiceUnavailable: 503,
};

export function statusOf(code: string): number {
  return SERVER_ERRORS[code] ?? 400;
}

const DEFAULT_MESSAGES: Readonly<Record<string, string>> = {
  InsufficientInstanceCapacity: "We currently do not have sufficient capacity in the Availability Zone you requested.",
  InstanceLimitExceeded: "You have requested more instances than your current instance limit allows for the specified instance type.",
  RequestLimitExceeded: "Request limit exceeded.",
  Unavailable: "The server is overloaded and can't handle the request.",
  InternalError: "An internal error has occurred.",
  UnauthorizedOperation: "You are not authorized to perform this operation.",
  "InvalidAMIID.NotFound": "The image id does not exist",
  "InvalidAMIID.Malformed": "Invalid id",
  "InvalidSubnetID.NotFound": "The subnet ID does not exist",
  "InvalidGroup.NotFound": "The security group does not exist",
  "InvalidKeyPair.NotFound": "The key pair does not exist",
  InvalidParameterValue: "Invalid value for a parameter.",
  IdempotentParameterMismatch: "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).",
};

/** EC2's error document: note `Response/Errors/Error` and `RequestID` (capital ID), unlike the success bodies. */
export function errorDocument(error: Ec2Error, requestId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Response><Errors><Error><Code>${xmlEscape(error.code)}</Code><Message>${xmlEscape(error.message)}</Message></Error></Errors>` +
    `<RequestID>${xmlEscape(requestId)}</RequestID></Response>`
  );
}
