import assert from "node:assert/strict";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { BlockList } from "node:net";
import { describe, test } from "node:test";
import { parseCidrs, plainAddress, responseHeaders, setForwardingHeaders, stripRequestHopByHop } from "../src/serve/headers.js";

const fakeReq = (peer: string, headers: IncomingHttpHeaders) => ({ headers, socket: { remoteAddress: peer } }) as unknown as IncomingMessage;

const forwarded = (peer: string, headers: IncomingHttpHeaders, trusted: BlockList = new BlockList()) => {
  const req = fakeReq(peer, { ...headers });
  setForwardingHeaders(req, trusted);
  const h = req.headers;
  return { xff: h["x-forwarded-for"], real: h["x-real-ip"], proto: h["x-forwarded-proto"], host: h["x-forwarded-host"] };
};

describe("parseCidrs", () => {
  test("reads IPv4 and IPv6 CIDRs and bare addresses, comma or space separated", () => {
    const b = parseCidrs(" 10.0.0.0/8, 192.168.1.7 2001:db8::/32,::1 ");
    assert.equal(b.check("10.200.3.4", "ipv4"), true);
    assert.equal(b.check("192.168.1.7", "ipv4"), true);
    assert.equal(b.check("192.168.1.8", "ipv4"), false);
    assert.equal(b.check("2001:db8::42", "ipv6"), true);
    assert.equal(b.check("::1", "ipv6"), true);
    assert.equal(b.check("::2", "ipv6"), false);
  });

  test("an empty list trusts nobody", () => {
    assert.equal(parseCidrs("").check("127.0.0.1", "ipv4"), false);
  });

  test("rejects a bad entry naming it and the reason", () => {
    assert.throws(() => parseCidrs("10.0.0.0/8,nonsense"), /invalid CIDR 'nonsense': 'nonsense' is not an IPv4 or IPv6 address/);
    assert.throws(() => parseCidrs("10.0.0.0/33"), /invalid CIDR '10\.0\.0\.0\/33': prefix must be 0-32/);
    assert.throws(() => parseCidrs("::/129"), /prefix must be 0-128/);
    assert.throws(() => parseCidrs("10.0.0.0/"), /invalid CIDR '10\.0\.0\.0\/'/);
    assert.throws(() => parseCidrs("10.0.0.0/x8"), /invalid CIDR/);
    assert.throws(() => parseCidrs("300.1.1.1/8"), /not an IPv4 or IPv6 address/);
  });
});

describe("forwarding headers", () => {
  const trusted = parseCidrs("10.0.0.0/8, fd00::/8");

  test("replaces every client-sent value when the peer is not trusted", () => {
    assert.deepEqual(
      forwarded("203.0.113.9", { host: "shop.test", "x-forwarded-for": "6.6.6.6", "x-real-ip": "6.6.6.6", "x-forwarded-proto": "https", "x-forwarded-host": "evil.test" }, trusted),
      { xff: "203.0.113.9", real: "203.0.113.9", proto: "http", host: "shop.test" },
    );
  });

  test("extends X-Forwarded-For and keeps proto and host from a trusted peer", () => {
    assert.deepEqual(
      forwarded("10.1.1.1", { host: "internal:8080", "x-forwarded-for": "198.51.100.4", "x-forwarded-proto": "https", "x-forwarded-host": "shop.test" }, trusted),
      { xff: "198.51.100.4, 10.1.1.1", real: "198.51.100.4", proto: "https", host: "shop.test" },
    );
  });

  test("fills proto and host from the request when a trusted peer sent none", () => {
    assert.deepEqual(forwarded("10.1.1.1", { host: "shop.test" }, trusted), { xff: "10.1.1.1", real: "10.1.1.1", proto: "http", host: "shop.test" });
  });

  test("takes the right-most untrusted address of the chain as X-Real-IP", () => {
    const f = forwarded("10.1.1.1", { "x-forwarded-for": "1.1.1.1, 198.51.100.4, 10.9.9.9" }, trusted);
    assert.equal(f.real, "198.51.100.4");
    assert.equal(f.xff, "1.1.1.1, 198.51.100.4, 10.9.9.9, 10.1.1.1");
  });

  test("takes the left-most address when the whole chain is trusted", () => {
    assert.equal(forwarded("10.1.1.1", { "x-forwarded-for": "10.3.3.3, 10.2.2.2" }, trusted).real, "10.3.3.3");
  });

  test("stops the chain walk at an entry that is not an address", () => {
    assert.equal(forwarded("10.1.1.1", { "x-forwarded-for": "1.1.1.1, unknown, 10.2.2.2" }, trusted).real, "10.2.2.2");
    assert.equal(forwarded("10.1.1.1", { "x-forwarded-for": "garbage" }, trusted).real, "10.1.1.1");
  });

  test("joins repeated X-Forwarded-For headers from a trusted peer", () => {
    const f = forwarded("10.1.1.1", { "x-forwarded-for": ["1.1.1.1", "2.2.2.2"] as unknown as string }, trusted);
    assert.equal(f.xff, "1.1.1.1, 2.2.2.2, 10.1.1.1");
  });

  test("trusts IPv6 peers by IPv6 CIDR and reports IPv4-mapped peers as IPv4", () => {
    assert.equal(forwarded("fd00::5", { "x-forwarded-for": "2001:db8::1" }, trusted).real, "2001:db8::1");
    assert.deepEqual(forwarded("::ffff:10.1.1.1", { "x-forwarded-for": "1.2.3.4" }, trusted).xff, "1.2.3.4, 10.1.1.1");
    assert.equal(forwarded("::ffff:203.0.113.9", {}).real, "203.0.113.9");
    assert.equal(plainAddress("::ffff:zz"), "::ffff:zz");
  });

  test("sends no X-Forwarded-Host when the client sent no Host", () => {
    assert.equal(forwarded("203.0.113.9", { "x-forwarded-host": "evil.test" }).host, undefined);
  });
});

describe("hop-by-hop stripping", () => {
  test("removes the RFC 9110 list and every field named in Connection", () => {
    const h: IncomingHttpHeaders = {
      host: "a", connection: "keep-alive, X-A, x-b", "x-a": "1", "x-b": "2", "keep-alive": "timeout=5", "proxy-connection": "x",
      te: "trailers", trailer: "x-sum", upgrade: "h2c", "x-kept": "1",
    };
    stripRequestHopByHop(h, false);
    assert.deepEqual(h, { host: "a", "x-kept": "1" });
  });

  test("never lets Connection name away Host or Content-Length", () => {
    const h: IncomingHttpHeaders = { host: "a", "content-length": "5", connection: "host, content-length" };
    stripRequestHopByHop(h, false);
    assert.deepEqual(h, { host: "a", "content-length": "5" });
  });

  test("never lets Connection name away the edge's own forwarding headers", () => {
    const req = fakeReq("203.0.113.9", { host: "a", connection: "x-real-ip, X-Forwarded-For, x-forwarded-proto, x-forwarded-host" });
    setForwardingHeaders(req, new BlockList());
    const h = req.headers;
    stripRequestHopByHop(h, false);
    assert.equal(h["x-real-ip"], "203.0.113.9");
    assert.equal(h["x-forwarded-for"], "203.0.113.9");
    assert.equal(h["x-forwarded-proto"], "http");
    assert.equal(h["x-forwarded-host"], "a");
  });

  test("keeps a request body's transfer coding even when Connection names it", () => {
    const h: IncomingHttpHeaders = { "transfer-encoding": "gzip, chunked", connection: "transfer-encoding" };
    stripRequestHopByHop(h, false);
    assert.deepEqual(h, { "transfer-encoding": "gzip, chunked" });
  });

  test("keeps the WebSocket handshake fields for an upgrade", () => {
    const h: IncomingHttpHeaders = { connection: "keep-alive, Upgrade", upgrade: "websocket", "sec-websocket-key": "k" };
    stripRequestHopByHop(h, true);
    assert.deepEqual(h, { connection: "upgrade", upgrade: "websocket", "sec-websocket-key": "k" });
  });

  test("filters response fields keeping repeated ones and their spelling", () => {
    const raw = ["Connection", "keep-alive, X-Internal", "X-Internal", "s", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "Transfer-Encoding", "chunked", "Content-Length", "2"];
    assert.deepEqual(responseHeaders(raw, "keep-alive, X-Internal"), ["Set-Cookie", "a=1", "Set-Cookie", "b=2", "Content-Length", "2"]);
  });

  test("passes on a response transfer coding other than plain chunked", () => {
    assert.deepEqual(responseHeaders(["Transfer-Encoding", "gzip, chunked"], undefined), ["Transfer-Encoding", "gzip, chunked"]);
  });

  test("closes the client connection after a body whose transfer coding does not end in chunked", () => {
    assert.deepEqual(responseHeaders(["Transfer-Encoding", "gzip"], undefined), ["Transfer-Encoding", "gzip", "Connection", "close"]);
  });
});
