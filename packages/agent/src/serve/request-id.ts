import { randomBytes } from "node:crypto";

/**
 * X-Request-Id values: which client ids are kept, and the ids the edge makes. An id made here is a
 * per-process random prefix and a counter: unique across workers and restarts, with no random draw
 * (and one small string) per request.
 */

const PREFIX = `${randomBytes(6).toString("hex")}-`;
let counter = 0;

/** A client's id is kept when it is 1-128 characters of this set: UUIDs, ULIDs, trace ids, base64. */
const GOOD = /^[A-Za-z0-9._:+/=@-]{1,128}$/;

export const wellFormedRequestId = (value: string): boolean => GOOD.test(value);

export function newRequestId(): string {
  return PREFIX + (++counter).toString(36);
}
