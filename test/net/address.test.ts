import t from "tap";
import { addressKey, clientIp, createProxyMatcher, isPublicIp, normalizeIp, parseCidr } from "../../src/net/address.js";

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

t.test("createProxyMatcher: nobody by default, then exactly the listed ranges", async (t) => {
  t.notOk(createProxyMatcher([])("127.0.0.1"));
  const match = createProxyMatcher(["127.0.0.0/8", "::1/128", "10.0.0.5"]);
  t.ok(match("127.1.2.3"));
  t.ok(match("::1"));
  t.ok(match("10.0.0.5"));
  t.notOk(match("10.0.0.6"));
  t.notOk(match("not an ip"));
  t.throws(() => createProxyMatcher(["10.0.0.0/99"]), /invalid trusted proxy range/);
});

t.test("clientIp: the socket peer, unless a trusted proxy names the client", async (t) => {
  const headers = (h: Record<string, string | string[]>) => (name: string) => h[name];
  const none = createProxyMatcher([]);
  const loopback = createProxyMatcher(["127.0.0.0/8"]);
  t.equal(clientIp("::ffff:198.51.100.7", headers({ "x-forwarded-for": "203.0.113.1" }), none), "198.51.100.7", "headers ignored from untrusted peers");
  t.equal(clientIp("127.0.0.1", headers({ "x-forwarded-for": "203.0.113.1" }), loopback), "203.0.113.1");
  t.equal(clientIp("127.0.0.1", headers({ "x-real-ip": "203.0.113.2" }), loopback), "203.0.113.2");
  t.equal(clientIp("127.0.0.1", headers({ "x-forwarded-for": "garbage", "x-real-ip": "203.0.113.2" }), loopback), "203.0.113.2");
  t.equal(clientIp("127.0.0.1", headers({}), loopback), "127.0.0.1", "a proxy without headers is the client");
  t.equal(clientIp(undefined, headers({}), loopback), undefined);
});

t.test("clientIp: a trusted proxy's X-Forwarded-For list names the client first; a repeated header counts by its first value", async (t) => {
  const loopback = createProxyMatcher(["127.0.0.0/8"]);
  const headers = (h: Record<string, string | string[]>) => (name: string) => h[name];
  t.equal(clientIp("127.0.0.1", headers({ "x-forwarded-for": "203.0.113.1, 10.0.0.1, 127.0.0.2" }), loopback), "203.0.113.1", "the leftmost hop");
  t.equal(clientIp("127.0.0.1", headers({ "x-forwarded-for": " [2001:db8::7] ,203.0.113.1" }), loopback), "2001:db8::7", "the hop is normalized");
  t.equal(clientIp("127.0.0.1", headers({ "x-forwarded-for": ["203.0.113.3", "198.51.100.1"] }), loopback), "203.0.113.3");
  t.equal(clientIp("127.0.0.1", headers({ "x-real-ip": ["203.0.113.4", "198.51.100.1"] }), loopback), "203.0.113.4");
  t.equal(clientIp("127.0.0.1", headers({ "x-forwarded-for": [], "x-real-ip": [] }), loopback), "127.0.0.1", "empty lists name nobody");
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
