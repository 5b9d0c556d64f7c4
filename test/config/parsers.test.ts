import t from "tap";
import {
  addressRanges,
  byteSize,
  clip,
  describe,
  hostPortList,
  integer,
  oneOf,
  onOff,
  optionalPath,
  OptionProblem,
  rate,
  ratePerMinute,
  repeatedCidrs,
  repeatedHostPort,
  seconds,
  splitList,
  text,
  type ParseContext,
} from "../../src/config/parsers.js";

const ctx: ParseContext = { from: "--x", io: { readFile: () => "" } };

/** The message a parse throws, or undefined. */
function problem(parse: () => unknown): string | undefined {
  try {
    parse();
  } catch (error) {
    if (error instanceof OptionProblem) return error.message;
    throw error;
  }
  return undefined;
}

t.test("integer: digits in range from text, safe integers in range from values", async (t) => {
  const p = integer(1, 10);
  t.equal(p.fromText(["3"], ctx), 3);
  t.equal(p.fromText([" 7 "], ctx), 7, "surrounding blanks are fine");
  t.equal(p.fromText(["1", "10"], ctx), 10, "the last occurrence wins");
  t.equal(p.fromValue(4, ctx), 4);
  t.equal(p.fromValue("5", ctx), 5, "a typed value may be the flag's text");
  for (const bad of ["0", "11", "1.5", "-1", "0x5", "", "1e1", "five"]) {
    t.equal(problem(() => p.fromText([bad], ctx)), `"${bad}" must be an integer from 1 to 10`, bad);
  }
  t.equal(problem(() => p.fromValue(1.5, ctx)), "1.5 must be an integer from 1 to 10");
  t.equal(problem(() => p.fromValue(Number.NaN, ctx)), "null must be an integer from 1 to 10", "NaN is shown as JSON shows it");
  t.equal(problem(() => p.fromValue(true as never, ctx)), "true must be an integer from 1 to 10");
  t.equal(problem(() => p.fromValue(undefined as never, ctx)), "undefined must be an integer from 1 to 10", "a value JSON cannot show");
  t.equal(problem(() => p.fromText([], ctx)), '"" must be an integer from 1 to 10', "no occurrence reads as empty text");
  t.equal(p.show(42), "42");
});

t.test("seconds: whole seconds on the command line, milliseconds in the value", async (t) => {
  const p = seconds(1, 60);
  t.equal(p.fromText(["2"], ctx), 2_000);
  t.equal(p.fromValue(1_500, ctx), 1_500, "typed values are ms and may be fractional seconds");
  t.match(problem(() => p.fromText(["0"], ctx)), /"0" must be an integer from 1 to 60/);
  t.equal(problem(() => p.fromValue(999, ctx)), "999 must be a whole number of milliseconds from 1000 to 60000");
  t.equal(problem(() => p.fromValue(1.5 as number, ctx)), "1.5 must be a whole number of milliseconds from 1000 to 60000");
  t.equal(problem(() => p.fromValue("2" as never, ctx)), '"2" must be a whole number of milliseconds from 1000 to 60000');
  t.equal(p.fromEnv, undefined, "the env var reads like the flag unless told");
  t.equal(p.show(60_000), "60");
  t.equal(p.show(1_500), "1.5");
  const ms = seconds(1, 60, { unit: "ms", minMs: 100 });
  t.equal(ms.fromEnv?.("250", ctx), 250, "an env var in milliseconds");
  t.match(problem(() => ms.fromEnv?.("99", ctx)), /"99" must be an integer from 100 to 60000/);
  t.equal(ms.fromValue(100, ctx), 100, "values down to the env minimum");
});

t.test("onOff: the usual spellings of a switch, any case", async (t) => {
  const p = onOff();
  for (const word of ["on", "ON", "true", "1", "yes", " Yes "]) t.equal(p.fromText([word], ctx), true, word);
  for (const word of ["off", "Off", "false", "0", "no"]) t.equal(p.fromText([word], ctx), false, word);
  t.equal(problem(() => p.fromText(["maybe"], ctx)), '"maybe" must be on or off (also true/false, 1/0, yes/no)');
  t.equal(p.fromValue(false, ctx), false);
  t.equal(p.fromValue("on", ctx), true);
  t.equal(problem(() => p.fromValue(1 as never, ctx)), "1 must be true or false");
  t.equal(p.show(true), "on");
  t.equal(p.show(false), "off");
});

t.test("oneOf: a word of the list, any case", async (t) => {
  const p = oneOf(["info", "warn"]);
  t.equal(p.fromText(["WARN"], ctx), "warn");
  t.equal(p.fromValue("info", ctx), "info");
  t.equal(problem(() => p.fromText(["loud"], ctx)), '"loud" must be one of info, warn');
  t.equal(problem(() => p.fromValue(3 as never, ctx)), "3 must be one of info, warn");
});

t.test("text and optionalPath: trimmed; blank means the default or none", async (t) => {
  const host = text("::");
  t.equal(host.fromText([" 127.0.0.1 "], ctx), "127.0.0.1");
  t.equal(host.fromText(["  "], ctx), "::");
  t.equal(host.fromValue("h", ctx), "h");
  t.equal(problem(() => host.fromValue(1 as never, ctx)), "1 must be a string");
  const path = optionalPath();
  t.equal(path.fromText(["/tmp/x"], ctx), "/tmp/x");
  t.equal(path.fromText([""], ctx), undefined);
  t.equal(path.fromValue(undefined, ctx), undefined);
  t.equal(path.fromValue(" /a ", ctx), "/a");
  t.equal(problem(() => path.fromValue(5 as never, ctx)), "5 must be a path");
  t.equal(path.show(undefined), "none");
  t.equal(path.show("/p"), "/p");
});

t.test("host:port lists: comma-separated for one flag, one per occurrence for a repeatable flag", async (t) => {
  const list = hostPortList();
  t.same(list.fromText(["a.example:1, [2001:db8::1]:2,,"], ctx), ["a.example:1", "[2001:db8::1]:2"]);
  t.same(list.fromText([""], ctx), [], "empty for none");
  t.same(list.fromValue(["a.example:1"], ctx), ["a.example:1"]);
  t.same(list.fromValue("a.example:1,b.example:2", ctx), ["a.example:1", "b.example:2"]);
  t.equal(
    problem(() => list.fromText(["nope, bad:0"], ctx)),
    '"nope" is not host:port (a DNS name, IPv4 or [IPv6], port 1-65535); "bad:0" is not host:port (a DNS name, IPv4 or [IPv6], port 1-65535)',
    "every bad entry is named",
  );
  t.equal(problem(() => list.fromValue([1] as never, ctx)), "[1] must be a list of strings");
  t.equal(list.show([]), "none");
  t.equal(list.show(["a:1", "b:2"]), "a:1,b:2");
  const repeated = repeatedHostPort();
  t.same(repeated.fromText(["a.example:1", " b.example:2 "], ctx), ["a.example:1", "b.example:2"]);
  t.match(problem(() => repeated.fromText(["a.example:1", "x"], ctx)), /"x" is not host:port/);
  t.same(repeated.fromValue(["c.example:3"], ctx), ["c.example:3"]);
  t.equal(repeated.show(["a:1", "b:2"]), "a:1 b:2");
  t.equal(repeated.show([]), "none");
});

t.test("addressRanges: none, loopback, CIDRs and addresses", async (t) => {
  const p = addressRanges();
  for (const none of ["none", "NONE", "false", ""]) t.same(p.fromText([none], ctx), [], JSON.stringify(none));
  t.same(p.fromText(["loopback"], ctx), ["127.0.0.0/8", "::1/128"]);
  t.same(p.fromText(["loopback, 10.0.0.0/8,198.51.100.7"], ctx), ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "198.51.100.7"]);
  t.same(p.fromValue(["fd00::/8"], ctx), ["fd00::/8"]);
  t.equal(
    problem(() => p.fromText(["10.0.0.0/33,nope"], ctx)),
    '"10.0.0.0/33" is not a CIDR or IP address; use none, loopback or CIDR[,CIDR...]; "nope" is not a CIDR or IP address; use none, loopback or CIDR[,CIDR...]',
  );
  t.equal(p.show([]), "none");
  t.equal(p.show(["127.0.0.0/8", "::1/128"]), "loopback");
  t.equal(p.show(["10.0.0.0/8"]), "10.0.0.0/8");
});

t.test("rate: rate[:burst], burst twice the rate by default", async (t) => {
  const p = rate();
  t.same(p.fromText(["20:40"], ctx), { perSecond: 20, burst: 40 });
  t.same(p.fromText([" 0.5 "], ctx), { perSecond: 0.5, burst: 1 }, "burst at least 1");
  t.same(p.fromText(["3"], ctx), { perSecond: 3, burst: 6 });
  t.same(p.fromValue({ perSecond: 1, burst: 1 }, ctx), { perSecond: 1, burst: 1 });
  t.same(p.fromValue("7:8", ctx), { perSecond: 7, burst: 8 });
  const rule = "must be rate[:burst], e.g. 20:40 (a positive rate per second, a burst of at least 1)";
  for (const bad of ["0", "0:5", "-1:2", "5:0", "x", "1:2:3", "2000000", "1:20000000"]) {
    t.equal(problem(() => p.fromText([bad], ctx)), `"${bad}" ${rule}`, bad);
  }
  t.equal(problem(() => p.fromValue({ perSecond: 1, burst: 1.5 }, ctx)), `{"perSecond":1,"burst":1.5} ${rule}`);
  t.equal(problem(() => p.fromValue(5 as never, ctx)), `5 ${rule}`);
  t.equal(p.show({ perSecond: 20, burst: 40 }), "20:40");
});

t.test("repeatedCidrs: each occurrence a CIDR or address (or a comma list of them)", async (t) => {
  const p = repeatedCidrs();
  t.same(p.fromText(["127.0.0.0/8", "::1, 10.0.0.0/8"], ctx), ["127.0.0.0/8", "::1", "10.0.0.0/8"]);
  t.same(p.fromValue(["192.168.0.0/16"], ctx), ["192.168.0.0/16"]);
  t.same(p.fromValue("", ctx), []);
  t.equal(problem(() => p.fromText(["10.0.0.0/33", "nope"], ctx)), '"10.0.0.0/33" is not a CIDR or IP address; "nope" is not a CIDR or IP address');
  t.equal(p.show([]), "none");
  t.equal(p.show(["127.0.0.0/8", "::1"]), "127.0.0.0/8 ::1");
});

t.test("ratePerMinute: rate[:burst] per minute, burst the rate by default, value per second", async (t) => {
  const p = ratePerMinute();
  t.same(p.fromText(["5:10"], ctx), { perSecond: 5 / 60, burst: 10 });
  t.same(p.fromText([" 30 "], ctx), { perSecond: 0.5, burst: 30 });
  t.same(p.fromText(["0.5"], ctx), { perSecond: 0.5 / 60, burst: 1 }, "burst at least 1");
  t.same(p.fromValue({ perSecond: 1, burst: 2 }, ctx), { perSecond: 1, burst: 2 });
  t.same(p.fromValue("60:1", ctx), { perSecond: 1, burst: 1 });
  const rule = "must be rate[:burst], e.g. 5:10 (a positive rate per minute, a burst of at least 1)";
  for (const bad of ["0", "0:5", "-1:2", "5:0", "x", "1:2:3", "70000000", "1:20000000"]) {
    t.equal(problem(() => p.fromText([bad], ctx)), `"${bad}" ${rule}`, bad);
  }
  t.equal(problem(() => p.fromValue({ perSecond: 1, burst: 1.5 }, ctx)), `{"perSecond":1,"burst":1.5} ${rule}`);
  t.equal(problem(() => p.fromValue(5 as never, ctx)), `5 ${rule}`);
  t.equal(p.show({ perSecond: 5 / 60, burst: 10 }), "5:10");
  t.equal(p.show({ perSecond: 0.5, burst: 10 }), "30:10");
});

t.test("clip quotes at most 64 characters; splitList drops blanks", async (t) => {
  t.equal(clip("short"), "short");
  t.equal(clip("x".repeat(65)), `${"x".repeat(64)}…`);
  t.equal(clip("abcdef", 3), "abc…");
  t.same(splitList(" a, ,b ,"), ["a", "b"]);
  t.equal(new OptionProblem("m", "file.json").from, "file.json", "a problem may name its own source");
});

t.test("describe quotes any typed value without throwing", async (t) => {
  const looped: Record<string, unknown> = {};
  looped.self = looped;
  t.equal(describe("text"), '"text"');
  t.equal(describe(12), "12");
  t.equal(describe(12n), "12n");
  t.equal(describe({ a: 1 }), '{"a":1}');
  t.equal(describe(undefined), "undefined");
  t.equal(describe(looped), "[object Object]", "a circular object");
  t.equal(describe("x".repeat(100)), `"${"x".repeat(64)}…"`);
});

t.test("byteSize: whole bytes, or KiB, MiB, GiB in any case; shown in the largest whole unit", async (t) => {
  const p = byteSize(1024, 1024 ** 3);
  t.equal(p.fromText(["4096"], ctx), 4096);
  t.equal(p.fromText(["256MiB"], ctx), 256 * 1024 ** 2);
  t.equal(p.fromText([" 2 kib "], ctx), 2048);
  t.equal(p.fromText(["1GiB"], ctx), 1024 ** 3);
  t.equal(p.fromText(["1024b"], ctx), 1024);
  t.equal(p.fromValue(8192, ctx), 8192);
  t.equal(p.fromValue("3MiB", ctx), 3 * 1024 ** 2);
  const rule = "must be a size from 1024 to 1073741824 bytes: a whole number, optionally with KiB, MiB or GiB (e.g. 256MiB)";
  for (const bad of ["1MB", "2GiB", "1023", "1.5MiB", "MiB", "-1", ""]) t.equal(problem(() => p.fromText([bad], ctx)), `"${bad}" ${rule}`, bad);
  t.equal(problem(() => p.fromValue(1.5 as number, ctx)), `1.5 ${rule}`);
  t.equal(p.show(288 * 1024 ** 2), "288MiB");
  t.equal(p.show(2 * 1024 ** 3), "2GiB");
  t.equal(p.show(3 * 1024), "3KiB");
  t.equal(p.show(1500), "1500");
});
