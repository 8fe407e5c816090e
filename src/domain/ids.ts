import { randomBytes } from "node:crypto";

/** Ids come into commands as data; this is the source the service uses. */
export interface IdGenerator {
  next(prefix: "lease" | "resource" | "blueprint" | "request" | "token"): string;
}

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

/** Time-ordered ids (48-bit milliseconds + 64 random bits, base32), so ids sort by creation. */
export const randomIds: IdGenerator = {
  next(prefix) {
    let t = Date.now();
    let time = "";
    for (let i = 0; i < 10; i++) {
      time = alphabet[t % 32] + time;
      t = Math.floor(t / 32);
    }
    const bytes = randomBytes(10);
    let rand = "";
    for (const b of bytes) rand += alphabet[b % 32];
    const short = { lease: "ls", resource: "rs", blueprint: "bp", request: "rq", token: "tk" }[prefix];
    return `${short}_${time}${rand}`;
  },
};

/** Lease, resource and blueprint ids as they appear in URLs. */
export const idPattern = /^[a-z]{2}_[0-9a-z]{1,40}$/;
