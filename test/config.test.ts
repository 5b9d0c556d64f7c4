import t from "tap";
import { readFileSync } from "node:fs";
import { ConfigError, DEFAULTS, OPTIONS, helpText, loadConfig } from "../src/config.js";
import { VERSION } from "../src/version.js";

const VECTOR = '{"id":"01H7X0X7X0X7X0X7X0X7X0X7X0","privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo="}';

function problems(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}): string[] {
  try {
    loadConfig(argv, env, {
      readFile: (path) => {
        const text = files[path];
        if (text === undefined) throw Object.assign(new Error("nope"), { code: "ENOENT" });
        return text;
      },
    });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

t.test("defaults: port 8080, all interfaces, TTL 300 s, sweep every 60 s, info, Cloudflare STUN, no proxy, no relay", async (t) => {
  const config = loadConfig([], {});
  t.equal(config.port, 8080);
  t.equal(config.host, "::");
  t.equal(config.ttlSeconds, 300);
  t.equal(config.cleanupIntervalMs, 60_000);
  t.equal(config.logLevel, "info");
  t.same(config.stunServers, ["stun.cloudflare.com:3478"]);
  t.same(config.trustProxy, []);
  t.same(config.relays, []);
  t.equal(config.tokenTtlSeconds, 60);
  t.equal(config.signingKey, undefined);
  t.same(config.previousKeys, []);
  t.ok(Object.isFrozen(config));
  t.same(DEFAULTS.stunServers, ["stun.cloudflare.com:3478"]);
});

t.test("flags are parsed, in both --flag value and --flag=value forms", async (t) => {
  const config = loadConfig(
    [
      "--port=0",
      "--host",
      "127.0.0.1",
      "--ttl",
      "30",
      "--cleanup-interval",
      "5",
      "--log-level",
      "DEBUG",
      "--stun-servers",
      "stun1.example.org:3478, [2001:4860::1]:3478",
      "--trust-proxy",
      "loopback,10.0.0.0/8",
      "--relay",
      "198.51.100.1:3478",
      "--relay=relay.example.org:3479",
      "--token-ttl",
      "120",
    ],
    {},
  );
  t.equal(config.port, 0);
  t.equal(config.host, "127.0.0.1");
  t.equal(config.ttlSeconds, 30);
  t.equal(config.cleanupIntervalMs, 5_000);
  t.equal(config.logLevel, "debug");
  t.same(config.stunServers, ["stun1.example.org:3478", "[2001:4860::1]:3478"]);
  t.same(config.trustProxy, ["127.0.0.0/8", "::1/128", "10.0.0.0/8"]);
  t.same(config.relays, [
    { id: "198.51.100.1:3478", host: "198.51.100.1", port: 3478 },
    { id: "relay.example.org:3479", host: "relay.example.org", port: 3479 },
  ]);
  t.equal(config.tokenTtlSeconds, 120);
});

t.test("the environment uses the names Coral deployments use; flags win", async (t) => {
  const env = {
    PORT: "9000",
    HOST: "0.0.0.0",
    DEFAULT_TTL_SECONDS: "42",
    CLEANUP_INTERVAL_MS: "1500",
    LOG_LEVEL: "warn",
    CORAL_STUN_SERVERS: "",
    TRUST_PROXY: "192.168.0.0/16",
    TOKEN_TTL_SECONDS: "30",
  };
  const fromEnv = loadConfig([], env);
  t.equal(fromEnv.port, 9000);
  t.equal(fromEnv.host, "0.0.0.0");
  t.equal(fromEnv.ttlSeconds, 42);
  t.equal(fromEnv.cleanupIntervalMs, 1500, "CLEANUP_INTERVAL_MS is milliseconds");
  t.equal(fromEnv.logLevel, "warn");
  t.same(fromEnv.stunServers, [], "an empty list means no STUN servers");
  t.same(fromEnv.trustProxy, ["192.168.0.0/16"]);
  t.equal(fromEnv.tokenTtlSeconds, 30);
  const flagsWin = loadConfig(["--port", "1234", "--ttl", "7", "--trust-proxy", "none"], env);
  t.equal(flagsWin.port, 1234);
  t.equal(flagsWin.ttlSeconds, 7);
  t.same(flagsWin.trustProxy, []);
});

t.test("every problem is reported at once, naming the source and what is allowed", async (t) => {
  const found = problems(
    ["--port", "70000", "--ttl", "0", "--bogus", "--log-level", "loud", "--relay", "nohost", "--trust-proxy", "10.0.0.0/33", "stray"],
    { CLEANUP_INTERVAL_MS: "-5", CORAL_STUN_SERVERS: "stun:99999", TOKEN_TTL_SECONDS: "1.5" },
  );
  t.equal(found.length, 10, found.join("\n"));
  t.match(found, [
    /unknown option --bogus/,
    /unexpected argument "stray"/,
    /--port: "70000" must be an integer from 0 to 65535/,
    /--ttl: "0" must be an integer from 1/,
    /CLEANUP_INTERVAL_MS: "-5" must be an integer/,
    /--log-level: "loud" is not a log level; use one of trace, debug, info, warn, error, silent/,
    /CORAL_STUN_SERVERS: "stun:99999" is not host:port/,
    /--trust-proxy: "10.0.0.0\/33" is not a CIDR/,
    /--relay: "nohost" is not host:port/,
    /TOKEN_TTL_SECONDS: "1.5" must be an integer from 1 to 3600/,
  ]);
  const error = t.throws(() => loadConfig(["--ttl", "x", "--port", "y"], {}));
  t.match((error as Error).message, /invalid configuration:\n {2}- .*\n {2}- /);
});

t.test("a flag without its value is an error, not a silent default", async (t) => {
  t.match(problems(["--port"]), [/--port needs a value/]);
});

t.test("signing keys: env JSON, a file, previous keys; each bad input is refused with its own message", async (t) => {
  const fromEnv = loadConfig([], { DISCOVERY_SIGNING_KEY: VECTOR });
  t.equal(fromEnv.signingKey?.kid, "01H7X0X7X0X7X0X7X0X7X0X7X0");
  const fromFile = loadConfig(["--signing-key-file", "/keys/k.json"], { DISCOVERY_SIGNING_KEY: "ignored" }, {
    readFile: (p) => (p === "/keys/k.json" ? VECTOR : ""),
  });
  t.equal(fromFile.signingKey?.kid, "01H7X0X7X0X7X0X7X0X7X0X7X0", "the file flag wins over the env var");

  t.match(problems(["--signing-key-file", "/missing.json"]), [/\/missing.json: cannot read the key file \(ENOENT\)/]);
  t.match(problems([], { DISCOVERY_SIGNING_KEY: "{not json" }), [/^DISCOVERY_SIGNING_KEY: .*JSON/]);
  t.match(problems([], { DISCOVERY_SIGNING_KEY: '{"privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo="}' }), [/DISCOVERY_SIGNING_KEY: .*id/]);
  t.match(problems([], { DISCOVERY_SIGNING_KEY: '{"id":"k","privateKey":"AAAA"}' }), [/decodes to 3 bytes; expected 32/]);
  const wrongHalf =
    '{"id":"k","privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdoAtbpmLL7H2ArTXJV0YXj89bxfbePj0GTKqEB+N9g8SA=="}';
  t.match(problems([], { DISCOVERY_SIGNING_KEY: wrongHalf }), [/public half does not match/]);
  t.match(problems(["--previous-keys-file", "/p.json"], {}, { "/p.json": "{}" }), [/^\/p.json: /]);
  t.match(
    problems([], { DISCOVERY_SIGNING_KEY: VECTOR, DISCOVERY_PREVIOUS_KEYS: '[{"id":"01H7X0X7X0X7X0X7X0X7X0X7X0","publicKey":"IrW6Ziy-x9gK01yVdGF4_PW8X23j49BkyqhAfjfYPEg"}]' }),
    [/used by more than one key/],
  );
  t.same(problems([], { DISCOVERY_SIGNING_KEY: "" }), [], "an empty env var means no key");
});

t.test("--help lists every option with its env var; the version matches package.json", async (t) => {
  const help = helpText();
  for (const option of OPTIONS) {
    t.match(help, `--${option.flag}`);
    if (option.env !== undefined) t.match(help, option.env);
  }
  t.match(help, "keygen");
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  t.equal(VERSION, pkg.version);
});

t.test("the README documents every option and its environment variable", async (t) => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  for (const option of OPTIONS) {
    t.match(readme, `\`--${option.flag} `, `--${option.flag} is in the README`);
    if (option.env !== undefined) t.match(readme, `\`${option.env}\``, `${option.env} is in the README`);
  }
});
