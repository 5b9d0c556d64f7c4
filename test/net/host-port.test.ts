import t from "tap";
import { parseHostPort } from "../../src/net/host-port.js";

t.test("host:port with a DNS name, IPv4 or [IPv6], port 1-65535", async (t) => {
  t.same(parseHostPort("stun.cloudflare.com:3478"), { host: "stun.cloudflare.com", port: 3478 });
  t.same(parseHostPort("stun.example.org.:1"), { host: "stun.example.org.", port: 1 });
  t.same(parseHostPort("198.51.100.1:65535"), { host: "198.51.100.1", port: 65535 });
  t.same(parseHostPort("[2001:db8::1]:41820"), { host: "2001:db8::1", port: 41820 });
});

t.test("an empty host only when asked for (\"the address you see\")", async (t) => {
  t.equal(parseHostPort(":41820"), undefined);
  t.same(parseHostPort(":41820", { allowEmptyHost: true }), { host: "", port: 41820 });
});

t.test("everything else is refused", async (t) => {
  for (const bad of [
    "",
    "host",
    "host:",
    "host:0",
    "host:65536",
    "host:123456",
    "host:-1",
    "host:1e3",
    "2001:db8::1:80",
    "[2001:db8::1:80",
    "[198.51.100.1]:80",
    "[not-v6]:80",
    "under_score.example:80",
    "-leading.example:80",
    `${"a".repeat(64)}.example:80`,
    `${"a.".repeat(127)}a:80`,
    "space here:80",
  ]) {
    t.equal(parseHostPort(bad), undefined, JSON.stringify(bad));
  }
});
