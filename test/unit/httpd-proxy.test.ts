import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { downstreamHeaders, PROXIED_CONTENT_SECURITY_POLICY, upstreamHeaders, upstreamPathOf } from "../../src/api/httpd-proxy";
import { OutputTail } from "../../src/interfaces/httpd-registry";

const forwarded = { host: "drydock.example:8080", proto: "https", prefix: "/v1/leases/ls_1/http", port: 8000 };

describe("the path a proxied request reaches the lease's server with", () => {
  it("is what follows /http, still encoded, with the query; the bare prefix is /", () => {
    expect(upstreamPathOf("http://d/v1/leases/ls_1/http")).toBe("/");
    expect(upstreamPathOf("http://d/v1/leases/ls_1/http/")).toBe("/");
    expect(upstreamPathOf("http://d/v1/leases/ls_1/http?x=1")).toBe("/?x=1");
    expect(upstreamPathOf("http://d/v1/leases/ls_1/http/a%2Fb/c%20d?q=%20&r")).toBe("/a%2Fb/c%20d?q=%20&r");
    expect(upstreamPathOf("http://d/v1/leases/ls_1/http//double")).toBe("//double");
  });
});

describe("the headers the lease's server gets", () => {
  it("keep the message's own, drop the caller's credentials, the hop-by-hop ones and those Connection names", () => {
    const incoming = new Headers({
      authorization: "Bearer ddk_secret",
      "proxy-authorization": "Basic eA==",
      connection: "keep-alive, X-Private",
      "x-private": "hop",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      upgrade: "websocket",
      te: "trailers",
      host: "drydock.example:8080",
      "content-length": "12",
      "x-forwarded-for": "10.0.0.1",
      accept: "text/html",
      cookie: "a=b",
      "content-type": "text/plain",
    });
    expect(upstreamHeaders(incoming, forwarded)).toEqual({
      accept: "text/html",
      cookie: "a=b",
      "content-type": "text/plain",
      host: "127.0.0.1:8000",
      "x-forwarded-host": "drydock.example:8080",
      "x-forwarded-proto": "https",
      "x-forwarded-prefix": "/v1/leases/ls_1/http",
      connection: "close",
    });
  });
});

describe("the headers the caller gets back", () => {
  const response = (rawHeaders: string[]) => ({ rawHeaders, headers: Object.fromEntries(rawHeaders.flatMap((v, i, a) => (i % 2 === 0 ? [[v.toLowerCase(), a[i + 1]]] : []))) }) as unknown as IncomingMessage;

  it("are the server's, without hop-by-hop ones, every Set-Cookie kept, and always the sandbox policy", () => {
    const headers = downstreamHeaders(response(["Content-Type", "text/html", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "Transfer-Encoding", "chunked", "Connection", "close, X-Hop", "X-Hop", "1", "Content-Security-Policy", "default-src 'self'"]));
    expect(headers.get("content-type")).toBe("text/html");
    expect(headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    for (const gone of ["transfer-encoding", "connection", "x-hop"]) expect(headers.has(gone), gone).toBe(false);
    // The server's own policy stays, and the sandbox is added beside it: browsers enforce both.
    expect(headers.get("content-security-policy")).toBe(`default-src 'self', ${PROXIED_CONTENT_SECURITY_POLICY}`);
    expect(PROXIED_CONTENT_SECURITY_POLICY).toMatch(/^sandbox /);
    expect(PROXIED_CONTENT_SECURITY_POLICY).not.toContain("allow-same-origin");
  });
});

describe("the tail of a server's output", () => {
  it("keeps the last bytes, however they were written", () => {
    const tail = new OutputTail(10);
    const bytes = (s: string) => new TextEncoder().encode(s);
    tail.push(bytes("hello "));
    expect(tail.text()).toBe("hello ");
    tail.push(bytes("world, and more"));
    expect(tail.text()).toBe(", and more");
    tail.push(bytes("!"));
    expect(tail.text()).toBe(" and more!");
    tail.push(bytes("a very long line that is longer than the tail"));
    expect(tail.text()).toBe("n the tail");
  });
});
