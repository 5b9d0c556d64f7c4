import t from "tap";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, OPTIONS, resolveConfig } from "../../src/config/index.js";

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
  for (const [key, spec] of Object.entries(OPTIONS)) t.same(config[key as keyof typeof config], spec.default, `${key} is its row's default`);
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
  t.same(config.relays, ["198.51.100.1:3478", "relay.example.org:3479"], "a repeatable flag keeps every occurrence");
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
    /--log-level: "loud" must be one of trace, debug, info, warn, error, silent/,
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

t.test("short flags: -p is --port", async (t) => {
  t.equal(loadConfig(["-p", "9000"], {}).port, 9000);
  t.equal(loadConfig(["-p9001"], {}).port, 9001);
  t.match(problems(["-z", "1"]), [/unknown option -z; see --help for the options/, /unexpected argument "1"/]);
});

t.test("a mistyped option gets the closest flag as a suggestion", async (t) => {
  t.match(problems(["--prot", "9000"]), [/unknown option --prot; did you mean --port\?/]);
  t.match(problems(["--rate-limt", "off"]), [/unknown option --rate-limt; did you mean --rate-limit\?/]);
  t.match(problems(["--verison"]), [/unknown option --verison; did you mean --version\?/]);
});

t.test("a key file that cannot be read names the file and the reason", async (t) => {
  t.match(problems(["--signing-key-file", "/k.json"], {}, {}), [/^\/k\.json: cannot read the key file \(ENOENT\)$/]);
  const plain = () => {
    throw new Error("disk on fire");
  };
  const error = t.throws(() => loadConfig(["--previous-keys-file", "/p.json"], {}, { readFile: plain })) as ConfigError;
  t.match(error.problems, [/^\/p\.json: cannot read the key file \(Error: disk on fire\)$/]);
});

t.test("without an injected io, key files are read from disk", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-keys-"));
  const file = join(dir, "signing-key.json");
  await writeFile(file, VECTOR);
  t.equal(loadConfig(["--signing-key-file", file], {}).signingKey?.kid, "01H7X0X7X0X7X0X7X0X7X0X7X0");
  const error = t.throws(() => loadConfig(["--previous-keys-file", join(dir, "absent.json")], {})) as ConfigError;
  t.same(error.problems, [`${join(dir, "absent.json")}: cannot read the key file (ENOENT)`]);
});

t.test("a typed setting JSON cannot show is still reported as a problem, with the others", async (t) => {
  // JavaScript callers are not held to the types: a BigInt port, a key object that loops.
  const looped: Record<string, unknown> = { id: "k" };
  looped.self = looped;
  for (const [name, input] of [
    ["a BigInt", { port: 10n as never, ttlSeconds: 0 }],
    ["a circular object", { signingKey: looped, ttlSeconds: 0 }],
  ] as const) {
    let error: unknown;
    try {
      resolveConfig(input);
    } catch (e) {
      error = e;
    }
    t.ok(error instanceof ConfigError, `${name}: a ConfigError`);
    const problems = [...(error as ConfigError).problems].sort();
    t.match(problems, [/^(port: 10n must be an integer|signingKey: is an object that cannot be written as JSON)/, /^ttlSeconds: 0 must be/], `${name}: both problems listed`);
  }
});

t.test("what a typed setting's problem quotes", async (t) => {
  const error = t.throws(() => resolveConfig({ port: 10n as never, signingKey: 5 as never })) as ConfigError;
  t.match(error.problems, [/^port: 10n must be an integer/, /^signingKey: 5 must be the key's JSON text or a plain object$/]);
});

t.test("a flag given twice: the last one wins, except for repeatable flags", async (t) => {
  const config = loadConfig(["--port", "1", "--port", "2", "--relay", "198.51.100.1:1", "--relay", "198.51.100.2:2"], {});
  t.equal(config.port, 2);
  t.same(config.relays, ["198.51.100.1:1", "198.51.100.2:2"]);
});

t.test("--request-timeout may not be shorter than --headers-timeout", async (t) => {
  t.match(problems(["--headers-timeout", "20", "--request-timeout", "10"]), [/--request-timeout \(10s\) must be at least --headers-timeout \(20s\)/]);
});

t.test("the buffered-bytes budgets must hold one largest request, and the total at least one address's share", async (t) => {
  t.match(problems(["--max-body-bytes", "1048576", "--max-buffered-bytes-per-ip", "1MiB"]), [
    /--max-buffered-bytes-per-ip \(1048576\) must hold at least one request of the largest allowed size: --max-body-bytes \+ --max-header-bytes = 1064960/,
  ]);
  t.match(problems(["--max-buffered-bytes", "1MiB"]), [/--max-buffered-bytes \(1048576\) must be at least --max-buffered-bytes-per-ip \(2097152\)/]);
  t.match(problems(["--max-buffered-bytes", "64KiB", "--max-buffered-bytes-per-ip", "64KiB"]), [
    /--max-buffered-bytes-per-ip \(65536\) must hold at least one request/,
    /--max-buffered-bytes \(65536\) must hold at least one request/,
  ]);
  const ok = loadConfig(["--max-buffered-bytes", "96KiB", "--max-buffered-bytes-per-ip", "96KiB"], {});
  t.same([ok.maxBufferedBytes, ok.maxBufferedBytesPerIp], [98_304, 98_304]);
});

t.test("resolveConfig: typed settings go through the same parsers, in the units their keys name", async (t) => {
  const config = resolveConfig({ ttlSeconds: 30, headersTimeoutMs: 5_000, requestTimeoutMs: 9_000, rateLimit: false, rateLookup: "5:9", relays: ["198.51.100.1:1"] });
  t.equal(config.ttlSeconds, 30);
  t.equal(config.headersTimeoutMs, 5_000);
  t.equal(config.rateLimit, false);
  t.same(config.rateLookup, { perSecond: 5, burst: 9 }, "a setting may also be the flag's text");
  t.same(config.relays, ["198.51.100.1:1"]);
  t.equal(resolveConfig({ port: "0" }).port, 0, "text is parsed like the flag");
  t.ok(Object.isFrozen(config));
  const error = t.throws(() =>
    resolveConfig({ ttlSeconds: 0, headersTimeoutMs: 1.5, rateLimit: "maybe", bogus: 1 } as never),
  ) as ConfigError;
  t.match(error.problems, [
    /unknown option "bogus"; the options are port, host, /,
    /ttlSeconds: 0 must be an integer from 1 to 31536000/,
    /headersTimeoutMs: 1.5 must be a whole number of milliseconds from 1000 to 3600000/,
    /rateLimit: "maybe" must be on or off/,
  ]);
});

t.test("resolveConfig: settings, then env, then the caller's defaults, then the table's", async (t) => {
  const defaults = { port: 0, logLevel: "silent" } as const;
  t.equal(resolveConfig({}, { defaults }).port, 0);
  t.equal(resolveConfig({}, { defaults, env: { PORT: "9" } }).port, 9, "env beats the caller's defaults");
  t.equal(resolveConfig({ port: 7 }, { defaults, env: { PORT: "9" } }).port, 7, "settings beat env");
  t.equal(resolveConfig({}, { defaults }).ttlSeconds, 300, "the table's default last");
  t.equal(resolveConfig({ signingKey: VECTOR }).signingKey?.kid, "01H7X0X7X0X7X0X7X0X7X0X7X0", "a key as JSON text");
  t.equal(
    resolveConfig({ signingKey: JSON.parse(VECTOR) as object }).signingKey?.kid,
    "01H7X0X7X0X7X0X7X0X7X0X7X0",
    "a key as an object",
  );
});

t.test("switches read the same words from env and flags: on/off, true/false, 1/0, yes/no", async (t) => {
  for (const [word, value] of [["0", false], ["no", false], ["false", false], ["off", false], ["1", true], ["yes", true], ["true", true], ["on", true]] as const) {
    t.equal(loadConfig([], { RATE_LIMIT: word }).rateLimit, value, `RATE_LIMIT=${word}`);
    t.equal(loadConfig(["--rate-limit", word], {}).rateLimit, value, `--rate-limit ${word}`);
    t.equal(loadConfig([], { PUBKEY_CHECK: word }).pubkeyCheck, value, `PUBKEY_CHECK=${word}`);
  }
});

t.test("--reflection (env REFLECTION) is on unless switched off, and rejects other words", async (t) => {
  t.equal(loadConfig([], {}).reflection, true, "on by default");
  t.equal(loadConfig(["--reflection", "off"], {}).reflection, false);
  t.equal(loadConfig([], { REFLECTION: "off" }).reflection, false);
  t.equal(loadConfig(["--reflection", "on"], { REFLECTION: "off" }).reflection, true, "the flag wins over the env var");
  t.equal(resolveConfig({ reflection: false }).reflection, false, "typed");
  t.equal(resolveConfig({ reflection: "off" }).reflection, false, "as text");
  t.throws(() => loadConfig(["--reflection", "maybe"], {}), /--reflection/);
});

t.test("--redis-url needs a configured signing key: every instance must sign with the same one", async (t) => {
  t.match(problems(["--redis-url", "redis://127.0.0.1:6379"]), [
    /--redis-url needs --signing-key-file \(or DISCOVERY_SIGNING_KEY\): every instance must sign bootstrap tokens with the same key, so that a token minted by one verifies against the JWKS of all; create one with `coral-discovery keygen`/,
  ]);
  const key = '{"id":"01H7X0X7X0X7X0X7X0X7X0X7X0","privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo="}';
  t.same(problems(["--redis-url", "redis://127.0.0.1:6379", "--redis-prefix", "team-a:"], { DISCOVERY_SIGNING_KEY: key }), []);
  t.match(problems(["--redis-url", "tcp://x"]), [/is not a Redis URL/]);
  t.match(problems(["--redis-timeout", "0"]), [/redis-timeout/]);
});

t.test("--state-file and --state-interval: off and 30 s by default; flags, env (seconds) and startDiscovery values", async (t) => {
  const defaults = loadConfig([], {});
  t.equal(defaults.stateFile, undefined);
  t.equal(defaults.stateIntervalMs, 30_000);
  const flags = loadConfig(["--state-file", "/var/lib/coral/state.ndjson", "--state-interval", "5"], {});
  t.equal(flags.stateFile, "/var/lib/coral/state.ndjson");
  t.equal(flags.stateIntervalMs, 5_000);
  const env = loadConfig([], { STATE_FILE: "/tmp/s.ndjson", STATE_INTERVAL_SECONDS: "120" });
  t.same([env.stateFile, env.stateIntervalMs], ["/tmp/s.ndjson", 120_000]);
  t.throws(() => loadConfig(["--state-interval", "0"], {}), /--state-interval/);
  t.throws(() => loadConfig(["--state-interval", "3601"], {}), /--state-interval/);
  t.equal(resolveConfig({ stateFile: "/s", stateIntervalMs: 2_000 }).stateIntervalMs, 2_000);
  const key = '{"id":"01H7X0X7X0X7X0X7X0X7X0X7X0","privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo="}';
  t.match(problems(["--redis-url", "redis://127.0.0.1:6379", "--state-file", "/s"], { DISCOVERY_SIGNING_KEY: key }), [
    /--state-file keeps one instance's in-memory registry: with --redis-url the leases already live in Redis; give only one of them/,
  ]);
});
