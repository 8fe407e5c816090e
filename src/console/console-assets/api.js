// Calls to Drydock's JSON API with the tab's token. Every page gets all its data through here,
// so a client token sees exactly what the API shows it.
import { forget, token } from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Milliseconds the server's clock is ahead of this browser's, from the Date of the last answer. */
let skewMs = 0;

export function serverNow() {
  return new Date(Date.now() + skewMs);
}

/** What the page does when the token stops working (revoked, expired): set by main.js. */
let onRefused = () => {};
export function whenTokenRefused(handler) {
  onRefused = handler;
}

export function authHeaders(extra = {}) {
  return { ...extra, authorization: `Bearer ${token() ?? ""}` };
}

/** Learns the clock skew and handles a refused token; used by every call, the event stream's too. */
export function noteResponse(res) {
  const date = Date.parse(res.headers.get("date") ?? "");
  if (!Number.isNaN(date)) skewMs = date - Date.now();
  if (res.status === 401) {
    forget();
    onRefused("The token was refused (revoked, expired or mistyped): log in again.");
    throw new ApiError(401, "unauthorized", "the token was refused");
  }
}

export async function api(method, path, body) {
  const init = { method, headers: authHeaders({ accept: "application/json" }), cache: "no-store" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  noteResponse(res);
  const text = await res.text();
  const data = text && (res.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : null;
  if (!res.ok) {
    const error = data && data.error;
    throw new ApiError(res.status, error ? error.code : "http_" + res.status, error ? error.message : `${method} ${path}: ${res.status}`);
  }
  return data;
}

/** A query string from the non-empty fields of an object. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") q.set(key, String(value));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
