import t from "tap";
import { createAddressMatcher } from "../../src/net/address.js";
import { checkProbeTarget, unmapIpv4 } from "../../src/net/probe-target.js";

const none = createAddressMatcher([]);

t.test("public IP literals are targets; IPv6 in brackets", async (t) => {
  t.same(checkProbeTarget("203.0.113.7:8444", none), { ip: "203.0.113.7", port: 8444 });
  t.same(checkProbeTarget("8.8.8.8:1", none), { ip: "8.8.8.8", port: 1 });
  t.same(checkProbeTarget("[2606:4700::1]:65535", none), { ip: "2606:4700::1", port: 65535 });
});

t.test("not host:port, or not an IP literal: refused before any address rule", async (t) => {
  for (const text of ["", "8.8.8.8", "8.8.8.8:0", "8.8.8.8:65536", "[::1", "2606:4700::1:80", "host:port"]) {
    t.equal(checkProbeTarget(text, none), "not_host_port", text);
  }
  for (const text of ["localhost:8444", "example.com:443", "fc.example:80", "127.1:80", "0x7f.0.0.1:80", "2130706433:80", "0127.0.0.1:80"]) {
    t.equal(checkProbeTarget(text, createAddressMatcher(["0.0.0.0/0", "::/0"])), "not_ip_literal", `${text}: names and numeric forms, even with everything allowed`);
  }
  t.equal(checkProbeTarget("[fe80::1%eth0]:80", createAddressMatcher(["::/0"])), "not_ip_literal", "a zone index");
});

t.test("what the public-address rule refuses is refused", async (t) => {
  const cases = [
    "127.0.0.1:80", "127.255.255.254:80", "10.1.2.3:80", "172.16.0.1:80", "172.31.255.255:80", "192.168.1.1:80",
    "169.254.169.254:80", "224.0.0.1:80", "0.0.0.0:80", "255.255.255.255:80", "[::1]:80", "[::]:80", "[fe80::1]:80",
    "[febf::1]:80", "[fc00::1]:80", "[fd12::1]:80", "[ff02::1]:80", "[2001:db8::1]:80",
    "[::ffff:127.0.0.1]:80", "[::ffff:7f00:1]:80", "[::ffff:a9fe:a9fe]:80", "[::ffff:10.0.0.1]:80",
  ];
  for (const text of cases) t.equal(checkProbeTarget(text, none), "not_public", text);
});

t.test("the contract's extra reserved ranges and IPv6 forms that reach IPv4 are refused", async (t) => {
  const cases = [
    "0.1.2.3:80", "100.64.0.1:80", "100.127.255.255:80", "192.0.0.8:80", "198.18.0.1:80", "198.19.255.255:80",
    "240.0.0.1:80", "254.1.1.1:80", "[::7f00:1]:80", "[64:ff9b::a00:1]:80", "[64:ff9b:1::1]:80", "[2002:7f00:1::1]:80",
    "[2001:0:4136:e378::1]:80", "[100::1]:80",
  ];
  for (const text of cases) t.equal(checkProbeTarget(text, none), "reserved", text);
  t.same(checkProbeTarget("100.128.0.1:80", none), { ip: "100.128.0.1", port: 80 }, "just past 100.64/10");
  t.same(checkProbeTarget("[::ffff:8.8.8.8]:53", none), { ip: "8.8.8.8", port: 53 }, "a mapped public address is unmapped");
});

t.test("allowed ranges override the address rules, and are matched after unmapping", async (t) => {
  const loopback = createAddressMatcher(["127.0.0.0/8"]);
  t.same(checkProbeTarget("127.0.0.2:9", loopback), { ip: "127.0.0.2", port: 9 });
  t.same(checkProbeTarget("[::ffff:127.0.0.1]:9", loopback), { ip: "127.0.0.1", port: 9 });
  t.equal(checkProbeTarget("[::1]:9", loopback), "not_public", "only what is allowed");
  t.equal(checkProbeTarget("10.0.0.1:9", loopback), "not_public");
  t.same(checkProbeTarget("100.64.0.1:9", createAddressMatcher(["100.64.0.0/10"])), { ip: "100.64.0.1", port: 9 });
});

t.test("unmapIpv4: any spelling of an IPv4-mapped address; other addresses canonical", async (t) => {
  t.equal(unmapIpv4("::ffff:1.2.3.4"), "1.2.3.4");
  t.equal(unmapIpv4("::FFFF:0102:0304"), "1.2.3.4");
  t.equal(unmapIpv4("0:0:0:0:0:ffff:7f00:1"), "127.0.0.1");
  t.equal(unmapIpv4("2001:DB8:0:0::1"), "2001:db8::1");
  t.equal(unmapIpv4("1.2.3.4"), "1.2.3.4");
});
