/**
 * The little XML the emulator writes. Values are escaped here; element builders take already
 * rendered children. Absent values (undefined) render nothing, as EC2 omits empty members.
 */
export const EC2_NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/";

export function xmlEscape(value: string): string {
  return value.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

/** `<name>value</name>`, or nothing for undefined. */
export function leaf(name: string, value: string | number | boolean | undefined | null): string {
  return value === undefined || value === null ? "" : `<${name}>${xmlEscape(String(value))}</${name}>`;
}

export function node(name: string, ...children: string[]): string {
  return `<${name}>${children.join("")}</${name}>`;
}

/** EC2 lists: `<name><item>…</item><item>…</item></name>`. */
export function itemSet<T>(name: string, values: readonly T[], render: (value: T) => string): string {
  return node(name, ...values.map((v) => node("item", render(v))));
}

/** A success body: `<ActionResponse xmlns=…><requestId>…</requestId>…</ActionResponse>`. */
export function responseDocument(action: string, requestId: string, ...children: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_NAMESPACE}">${leaf("requestId", requestId)}${children.join("")}</${action}Response>`;
}
