import t from "tap";
import { addressKey, clientIp, createAddressMatcher, isPublicIp, normalizeIp, parseCidr, resolveClient } from "../../src/net/address.js";

t.test("normalizeIp: mapped IPv4, brackets, zones and case; undefined for non-addresses", async (t) => {
  t.equal(normalizeIp("::ffff:203.0.113.9"), "203.0.113.9");
  t.equal(normalizeIp("::FFFF:203.0.113.9"), "203.0.113.9");
  t.equal(normalizeIp("[2001:DB8::1]"), "2001:db8::1");
  t.equal(normalizeIp("fe80::1%eth0"), "fe80::1");
  t.equal(normalizeIp(" 198.51.100.7 "), "198.51.100.7");
  for (const bad of [undefined, "", "unknown", "1.2.3", "1.2.3.4.5", "::ffff:1.2.3.999", "[1.2.3.4]x", "evil.example"]) {
    t.equal(normalizeIp(bad), undefined, String(bad));
  }
});

t.test("isPublicIp: the wire contract's list of non-public ranges", async (t) => {
  for (const ip of ["203.0.113.9", "8.8.8.8", "2606:4700::1111", "100.64.0.1"]) t.ok(isPublicIp(ip), ip);
  for (const ip of [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.1.1",
    "224.0.0.1",
    "239.255.255.250",
    "0.0.0.0",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "ff02::1",
    "fc00::1",
    "fd12:3456::1",
    "2001:db8::1",
    "not an ip",
  ]) {
    t.notOk(isPublicIp(ip), ip);
  }
  t.ok(isPublicIp("172.32.0.1"), "just outside 172.16/12");
});

t.test("parseCidr: addresses and prefixes, refusing what is not one", async (t) => {
  t.same(parseCidr("10.0.0.0/8"), { ip: "10.0.0.0", prefix: 8, family: "ipv4" });
  t.same(parseCidr("2001:db8::/32"), { ip: "2001:db8::", prefix: 32, family: "ipv6" });
  t.same(parseCidr("198.51.100.7"), { ip: "198.51.100.7", prefix: 32, family: "ipv4" });
  t.same(parseCidr("::1"), { ip: "::1", prefix: 128, family: "ipv6" });
  for (const bad of ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/1234", "host/8", ""]) t.equal(parseCidr(bad), undefined, bad);
});

t.test("createAddressMatcher: nobody by default, then exactly the listed ranges", async (t) => {
  t.notOk(createAddressMatcher([])("127.0.0.1"));
  const match = createAddressMatcher(["127.0.0.0/8", "::1/128", "10.0.0.5"]);
  t.ok(match("127.1.2.3"));
  t.ok(match("::1"));
  t.ok(match("10.0.0.5"));
  t.notOk(match("10.0.0.6"));
  t.notOk(match("not an ip"));
  t.throws(() => createAddressMatcher(["10.0.0.0/99"]), /invalid address range/);
});

const headers = (h: Record<string, string | string[]>) => (name: string) => h[name];
const none = createAddressMatcher([]);
const loopback = createAddressMatcher(["127.0.0.0/8", "::1/128"]);
/** Two proxies in a row: an edge load balancer (10.0.0.0/8) in front of a local nginx (loopback). */
const chain = createAddressMatcher(["127.0.0.0/8", "::1/128", "10.0.0.0/8"]);

t.test("resolveClient: a peer that is not a trusted proxy is the client, whatever it sends", async (t) => {
  const spoof = { "x-forwarded-for": "203.0.113.1", "x-real-ip": "203.0.113.2" };
  t.same(resolveClient("::ffff:198.51.100.7", headers(spoof), none), { ip: "198.51.100.7", observedIp: "198.51.100.7" });
  t.same(resolveClient("10.1.2.3", headers(spoof), loopback), { ip: "10.1.2.3", observedIp: undefined }, "a private peer is no observed address");
  t.same(resolveClient(undefined, headers({}), loopback), { ip: undefined, observedIp: undefined });
  t.equal(clientIp("198.51.100.7", headers(spoof), none), "198.51.100.7", "clientIp is its ip");
});

t.test("resolveClient: an appending proxy (nginx $proxy_add_x_forwarded_for, Caddy, cloud LBs) cannot be fooled", async (t) => {
  // The client sent its own X-Forwarded-For; the proxy appended the address it saw.
  const appended = headers({ "x-forwarded-for": "1.2.3.4, 203.0.113.9" });
  t.equal(resolveClient("127.0.0.1", appended, loopback).ip, "203.0.113.9", "the rightmost untrusted hop, not the spoofed leftmost");
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": "203.0.113.9" }), loopback).ip, "203.0.113.9", "a replacing proxy: one hop");
  t.equal(
    resolveClient("127.0.0.1", headers({ "x-forwarded-for": "6.6.6.6, 10.9.9.9, 203.0.113.9, 10.0.0.5" }), chain).ip,
    "203.0.113.9",
    "a chain of trusted proxies is skipped, right to left",
  );
  t.equal(
    resolveClient("127.0.0.1", headers({ "x-forwarded-for": "127.0.0.1, 10.0.0.5" }), chain).ip,
    "127.0.0.1",
    "every hop trusted: no client in the header, so the proxy itself",
  );
  t.equal(
    resolveClient("127.0.0.1", headers({ "x-forwarded-for": ["1.2.3.4", "203.0.113.9, 10.0.0.5"] }), chain).ip,
    "203.0.113.9",
    "several header lines are one list",
  );
});

t.test("resolveClient: garbage ends the walk; without a usable hop X-Real-IP names the client, else the proxy", async (t) => {
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": "203.0.113.1, garbage" }), loopback).ip, "127.0.0.1", "garbage at the right: unusable");
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": "garbage, 203.0.113.1" }), loopback).ip, "203.0.113.1", "garbage left of the client is never reached");
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": "garbage", "x-real-ip": "203.0.113.2" }), loopback).ip, "203.0.113.2");
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": "", "x-real-ip": "nope" }), loopback).ip, "127.0.0.1");
  t.equal(resolveClient("127.0.0.1", headers({ "x-real-ip": ["203.0.113.4", "198.51.100.1"] }), loopback).ip, "203.0.113.4", "the first X-Real-IP");
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": [], "x-real-ip": [] }), loopback).ip, "127.0.0.1", "empty lists name nobody");
  t.equal(resolveClient("127.0.0.1", headers({}), loopback).ip, "127.0.0.1", "a proxy without headers is the client");
});

t.test("resolveClient: IPv6, IPv4-mapped IPv6 and hops with ports are normalized", async (t) => {
  t.equal(resolveClient("::1", headers({ "x-forwarded-for": "2001:DB8::7" }), loopback).ip, "2001:db8::7");
  t.equal(resolveClient("::ffff:127.0.0.1", headers({ "x-forwarded-for": "::ffff:203.0.113.5" }), loopback).ip, "203.0.113.5", "mapped peer and hop");
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": "203.0.113.5:4711" }), loopback).ip, "203.0.113.5", "ipv4:port");
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": "[2606:4700::1]:443" }), loopback).ip, "2606:4700::1", "[ipv6]:port");
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": " [2606:4700::2] " }), loopback).ip, "2606:4700::2", "[ipv6]");
});

t.test("resolveClient: the observed address is the client's when public, else a public X-Real-IP, else none", async (t) => {
  t.equal(resolveClient("127.0.0.1", headers({ "x-forwarded-for": "203.0.113.9" }), loopback).observedIp, "203.0.113.9");
  t.equal(
    resolveClient("127.0.0.1", headers({ "x-forwarded-for": "192.168.1.20", "x-real-ip": "203.0.113.7" }), loopback).observedIp,
    "203.0.113.7",
    "a private hop first (a proxy chain inside a LAN): X-Real-IP's public address",
  );
  const privateOnly = resolveClient("127.0.0.1", headers({ "x-forwarded-for": "192.168.1.20", "x-real-ip": "10.0.0.1" }), loopback);
  t.same(privateOnly, { ip: "192.168.1.20", observedIp: undefined }, "nothing public: limited by the client's address, no observed endpoint");
});

t.test("addressKey: IPv4 as is, IPv6 by its prefix (a /64 unless told)", async (t) => {
  t.equal(addressKey("198.51.100.7"), "198.51.100.7");
  t.equal(addressKey(undefined), "unknown");
  t.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  t.equal(addressKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
  t.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
  t.equal(addressKey("2001:0db8:0001:0002::1"), "2001:db8:1:2::/64");
  t.equal(addressKey("::1"), "0:0:0:0::/64");
  t.equal(addressKey("::ffff:1.2.3.4"), "0:0:0:0::/64", "a mapped address that was not normalized is still an IPv6 key");
  t.not(addressKey("2001:db8:1:2::1"), addressKey("2001:db8:1:3::1"));
  t.equal(addressKey("2001:db8:1:2aff::1", 56), "2001:db8:1:2a00::/56", "a /56 masks inside the fourth group");
  t.equal(addressKey("2001:db8:1:2aff::1", 48), "2001:db8:1::/48");
  t.equal(addressKey("2001:db8:1:2aff::1", 48), addressKey("2001:db8:1:ffff::9", 48), "one /48, one key");
  t.equal(addressKey("1:2:3:4:5:6:7:8:9"), "1:2:3:4:5:6:7:8:9", "a malformed address keys as itself");
  t.equal(addressKey("1::2::3"), "1::2::3");
  t.equal(addressKey("1:2:3:4:5::6:7:8:9"), "1:2:3:4:5::6:7:8:9", "more than eight groups around a :: keys as itself");
  t.equal(addressKey("2001:db8:1:2:3:4:5:1ffff"), "2001:db8:1:2:3:4:5:1ffff", "a group past 16 bits keys as itself");
  t.equal(addressKey("2001:db8:1:2:3:4:5:"), "2001:db8:1:2:3:4:5:", "an empty group keys as itself");
});
