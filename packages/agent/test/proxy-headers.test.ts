import assert from "node:assert/strict";
import { BlockList, type Socket } from "node:net";
import { describe, test } from "node:test";
import { parseCidrs, peerOf, plainAddress, responseHeaders } from "../src/serve/headers.js";
import { newPassRequest, runPasses, upstreamHead, type PassRequest } from "../src/serve/passes.js";
import { state } from "./proxy-fixture.js";
import { compileTable } from "../src/serve/table.js";

/** One request through the passes, as either door runs them, with a table that routes everything. */
function through(peer: string, fields: string[], opts: { trusted?: BlockList; http10?: boolean; underscores?: "drop" | "pass"; url?: string } = {}) {
  const trusted = opts.trusted ?? new BlockList();
  const r: PassRequest = newPassRequest(peerOf({ remoteAddress: peer } as Socket, trusted));
  r.method = "GET";
  r.url = opts.url ?? "/";
  r.http10 = opts.http10 ?? false;
  r.fields = fields;
  const table = compileTable(state({ defaultUpstream: "10.0.0.1:80", pools: {}, routes: {} }), 3);
  const refusal = runPasses(r, { table: { current: table }, trusted, underscores: opts.underscores ?? "drop" });
  return { refusal, r, head: refusal === undefined ? upstreamHead(r) : "" };
}

/** The upstream head's fields: lowercased name -> values in order. */
function sent(head: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    out.set(name, [...(out.get(name) ?? []), line.slice(colon + 2)]);
  }
  return out;
}

const forwarded = (peer: string, fields: string[], trusted?: BlockList) => {
  const h = sent(through(peer, fields, trusted ? { trusted } : {}).head);
  return { xff: h.get("x-forwarded-for")?.join(), real: h.get("x-real-ip")?.join(), proto: h.get("x-forwarded-proto")?.join(), host: h.get("x-forwarded-host")?.join() };
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
      forwarded("203.0.113.9", ["Host", "shop.test", "X-Forwarded-For", "6.6.6.6", "X-Real-IP", "6.6.6.6", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.test"], trusted),
      { xff: "203.0.113.9", real: "203.0.113.9", proto: "http", host: "shop.test" },
    );
  });

  test("extends X-Forwarded-For and keeps proto and host from a trusted peer", () => {
    assert.deepEqual(
      forwarded("10.1.1.1", ["Host", "internal:8080", "X-Forwarded-For", "198.51.100.4", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "shop.test"], trusted),
      { xff: "198.51.100.4, 10.1.1.1", real: "198.51.100.4", proto: "https", host: "shop.test" },
    );
  });

  test("fills proto and host from the request when a trusted peer sent none", () => {
    assert.deepEqual(forwarded("10.1.1.1", ["Host", "shop.test"], trusted), { xff: "10.1.1.1", real: "10.1.1.1", proto: "http", host: "shop.test" });
  });

  test("takes the right-most untrusted address of the chain as X-Real-IP", () => {
    const f = forwarded("10.1.1.1", ["Host", "a", "X-Forwarded-For", "1.1.1.1, 198.51.100.4, 10.9.9.9"], trusted);
    assert.equal(f.real, "198.51.100.4");
    assert.equal(f.xff, "1.1.1.1, 198.51.100.4, 10.9.9.9, 10.1.1.1");
  });

  test("takes the left-most address when the whole chain is trusted", () => {
    assert.equal(forwarded("10.1.1.1", ["Host", "a", "X-Forwarded-For", "10.3.3.3, 10.2.2.2"], trusted).real, "10.3.3.3");
  });

  test("stops the chain walk at an entry that is not an address", () => {
    assert.equal(forwarded("10.1.1.1", ["Host", "a", "X-Forwarded-For", "1.1.1.1, unknown, 10.2.2.2"], trusted).real, "10.2.2.2");
    assert.equal(forwarded("10.1.1.1", ["Host", "a", "X-Forwarded-For", "garbage"], trusted).real, "10.1.1.1");
  });

  test("joins repeated X-Forwarded-For fields from a trusted peer", () => {
    const f = forwarded("10.1.1.1", ["Host", "a", "X-Forwarded-For", "1.1.1.1", "x-forwarded-for", "2.2.2.2"], trusted);
    assert.equal(f.xff, "1.1.1.1, 2.2.2.2, 10.1.1.1");
  });

  test("trusts IPv6 peers by IPv6 CIDR and reports IPv4-mapped peers as IPv4", () => {
    assert.equal(forwarded("fd00::5", ["Host", "a", "X-Forwarded-For", "2001:db8::1"], trusted).real, "2001:db8::1");
    assert.deepEqual(forwarded("::ffff:10.1.1.1", ["Host", "a", "X-Forwarded-For", "1.2.3.4"], trusted).xff, "1.2.3.4, 10.1.1.1");
    assert.equal(forwarded("::ffff:203.0.113.9", ["Host", "a"]).real, "203.0.113.9");
    assert.equal(plainAddress("::ffff:zz"), "::ffff:zz");
  });

  test("sends no X-Forwarded-Host when an HTTP/1.0 client sent no Host, and names the upstream in Host", () => {
    const { head } = through("203.0.113.9", ["X-Forwarded-Host", "evil.test"], { http10: true });
    assert.equal(sent(head).get("x-forwarded-host"), undefined);
    assert.deepEqual(sent(head).get("host"), ["10.0.0.1:80"]);
  });
});

describe("request passes", () => {
  test("run in their declared order: the 400s before the table, connection closing before both answers", () => {
    const noTable = (fields: string[]) => {
      const r: PassRequest = newPassRequest(peerOf({ remoteAddress: "1.2.3.4" } as Socket, new BlockList()));
      r.method = "GET";
      r.url = "/";
      r.fields = fields;
      return { refusal: runPasses(r, { table: { current: undefined }, trusted: new BlockList(), underscores: "drop" }), r };
    };
    // Malformed and not routable: the 400 wins over the 503 a table read would give.
    assert.equal(noTable(["Host", "a", "Host", "b"]).refusal?.status, 400);
    assert.equal(noTable(["Host", "a", "Authorization", "x", "Authorization", "y"]).refusal?.status, 400);
    // Routable but no table yet: the 503 still closes the connection the client asked to close.
    const notReady = noTable(["Host", "a", "Connection", "close"]);
    assert.equal(notReady.refusal?.status, 503);
    assert.equal(notReady.r.close, true);
    assert.equal(notReady.r.revision, -1);
  });

  test("refuse two Hosts, and no Host on HTTP/1.1, with 400", () => {
    assert.equal(through("1.2.3.4", ["Host", "a", "host", "b"]).refusal?.status, 400);
    assert.equal(through("1.2.3.4", ["Accept", "*/*"]).refusal?.status, 400);
    assert.equal(through("1.2.3.4", ["Accept", "*/*"], { http10: true }).refusal, undefined);
  });

  test("remove the RFC 9110 hop-by-hop list, Expect and every field named in Connection", () => {
    const { head } = through("1.2.3.4", [
      "Host", "a", "Connection", "keep-alive, X-A, x-b", "X-A", "1", "x-b", "2", "Keep-Alive", "timeout=5", "Proxy-Connection", "x",
      "TE", "trailers", "Trailer", "x-sum", "Upgrade", "h2c", "Expect", "100-continue", "X-Kept", "1",
    ]);
    assert.deepEqual([...sent(head).keys()], ["host", "x-kept", "x-forwarded-for", "x-real-ip", "x-forwarded-proto", "x-request-id", "x-forwarded-host"]);
  });

  test("never let Connection name away Host, Content-Length or the edge's own forwarding fields", () => {
    const { head } = through("203.0.113.9", ["Host", "a", "Content-Length", "0", "Connection", "host, content-length, x-real-ip, X-Forwarded-For, x-forwarded-proto, x-forwarded-host"]);
    const h = sent(head);
    assert.deepEqual([h.get("host"), h.get("content-length"), h.get("x-real-ip"), h.get("x-forwarded-for")], [["a"], ["0"], ["203.0.113.9"], ["203.0.113.9"]]);
  });

  test("keep a chunked body's Transfer-Encoding as sent, even when Connection names it", () => {
    const { r, head } = through("1.2.3.4", ["Host", "a", "Transfer-Encoding", "gzip, chunked", "Connection", "transfer-encoding"]);
    assert.equal(r.chunked, true);
    assert.deepEqual(sent(head).get("transfer-encoding"), ["gzip, chunked"]);
  });

  test("close the connection on a close token in Connection or Proxy-Connection, whatever its case and spacing, and on HTTP/1.0 unless asked", () => {
    const closes = (fields: string[], http10 = false) => through("1.2.3.4", ["Host", "a", ...fields], { http10 }).r.close;
    assert.equal(closes(["Connection", "Keep-Alive, CLOSE"]), true);
    assert.equal(closes(["Connection", "close\t"]), true);
    assert.equal(closes(["Proxy-Connection", "close"]), true);
    assert.equal(closes(["Connection", "closed"]), false);
    assert.equal(closes([]), false);
    assert.equal(closes([], true), true);
    assert.equal(closes(["Connection", "keep-alive"], true), false);
  });

  test("send Content-Length in canonical form and refuse conflicting values", () => {
    assert.deepEqual(sent(through("1.2.3.4", ["Host", "a", "Content-Length", "0010"]).head).get("content-length"), ["10"]);
    assert.equal(through("1.2.3.4", ["Host", "a", "Content-Length", "00"]).r.length, 0);
    assert.equal(through("1.2.3.4", ["Host", "a", "Content-Length", "1", "Content-Length", "2"]).refusal?.status, 400);
  });

  test("drop fields with underscores unless told to pass them", () => {
    const fields = () => ["Host", "a", "X_Real_IP", "6.6.6.6", "my_field", "v"];
    assert.deepEqual([...sent(through("1.2.3.4", fields()).head).keys()].filter((n) => n.includes("_")), []);
    assert.deepEqual([...sent(through("1.2.3.4", fields(), { underscores: "pass" }).head).keys()].filter((n) => n.includes("_")), ["x_real_ip", "my_field"]);
  });

  test("refuse an absolute-form target with 400, and route by the path without its query", () => {
    assert.equal(through("1.2.3.4", ["Host", "a"], { url: "http://a/" }).refusal?.status, 400);
    assert.equal(through("1.2.3.4", ["Host", "a"], { url: "/p/q?x=/y" }).r.path, "/p/q");
  });
});

describe("response fields", () => {
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
