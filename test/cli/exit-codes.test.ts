import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { EXIT, describe, exitCodeFor, reportFailure, UsageError } from "../../src/cli/exit-codes.js";

const withCause = (code: Code, cause: unknown) => new ConnectError("failed", code, undefined, undefined, cause);
const systemError = (code: string) => Object.assign(new Error(`${code} happened`), { code });

/** `inner` wrapped in `depth` plain Errors, each the cause of the next. */
function nested(inner: Error, depth: number): Error {
  let e = inner;
  for (let i = 0; i < depth; i++) e = new Error(`wrapper ${i}`, { cause: e });
  return e;
}

t.test("the exit codes are stable numbers scripts can rely on", async (t) => {
  t.same(EXIT, { ok: 0, failed: 1, invalid: 2, notFound: 3, unreachable: 4, refused: 5 });
});

t.test("every Connect code maps to its exit code", async (t) => {
  const expected: Record<Code, number> = {
    [Code.Canceled]: EXIT.failed,
    [Code.Unknown]: EXIT.failed,
    [Code.InvalidArgument]: EXIT.invalid,
    [Code.DeadlineExceeded]: EXIT.unreachable,
    [Code.NotFound]: EXIT.notFound,
    [Code.AlreadyExists]: EXIT.refused,
    [Code.PermissionDenied]: EXIT.refused,
    [Code.ResourceExhausted]: EXIT.refused,
    [Code.FailedPrecondition]: EXIT.refused,
    [Code.Aborted]: EXIT.failed,
    [Code.OutOfRange]: EXIT.failed,
    [Code.Unimplemented]: EXIT.refused,
    [Code.Internal]: EXIT.failed,
    [Code.Unavailable]: EXIT.unreachable,
    [Code.DataLoss]: EXIT.failed,
    [Code.Unauthenticated]: EXIT.refused, // a missing or wrong admin token
  };
  const codes = Object.values(Code).filter((v): v is Code => typeof v === "number");
  t.equal(codes.length, 16, "all of them");
  for (const code of codes) t.equal(exitCodeFor(new ConnectError("x", code)), expected[code], Code[code]);
});

t.test("an otherwise unlisted code with a Node network error as the cause is unreachable", async (t) => {
  t.equal(exitCodeFor(withCause(Code.Internal, systemError("ECONNREFUSED"))), EXIT.unreachable, "internal, connection refused");
  t.equal(exitCodeFor(withCause(Code.Aborted, systemError("ECONNRESET"))), EXIT.unreachable, "aborted, connection reset");
  t.equal(exitCodeFor(withCause(Code.Unknown, nested(systemError("EPIPE"), 3))), EXIT.unreachable, "a few causes down");
  t.equal(exitCodeFor(withCause(Code.Internal, systemError("EAI_AGAIN"))), EXIT.unreachable, "a temporary DNS failure");
  t.equal(exitCodeFor(withCause(Code.Internal, systemError("ENOTFOUND"))), EXIT.unreachable, "an unknown host");
});

t.test("a listed code keeps its exit code whatever the cause", async (t) => {
  t.equal(exitCodeFor(withCause(Code.NotFound, systemError("ECONNRESET"))), EXIT.notFound);
  t.equal(exitCodeFor(withCause(Code.InvalidArgument, systemError("ECONNRESET"))), EXIT.invalid);
  t.equal(exitCodeFor(withCause(Code.AlreadyExists, systemError("ECONNRESET"))), EXIT.refused);
});

t.test("causes that are no Node system error leave an unlisted code failed", async (t) => {
  t.equal(exitCodeFor(withCause(Code.Internal, systemError("ERR_HTTP2_STREAM_ERROR"))), EXIT.failed, "a Node internal ERR_ code");
  t.equal(exitCodeFor(withCause(Code.Internal, Object.assign(new Error("numeric"), { code: 104 }))), EXIT.failed, "a numeric code");
  t.equal(exitCodeFor(withCause(Code.Internal, { code: "ECONNRESET" })), EXIT.failed, "a plain object is no Error");
  t.equal(exitCodeFor(withCause(Code.Internal, "ECONNRESET")), EXIT.failed, "a string");
  t.equal(exitCodeFor(withCause(Code.Internal, new Error("no code"))), EXIT.failed, "an Error without a code");
});

t.test("the whole cause chain is searched, and a cycle in it ends the search", async (t) => {
  t.equal(exitCodeFor(withCause(Code.Internal, nested(systemError("ECONNRESET"), 12))), EXIT.unreachable, "found a dozen causes down");
  const a = new Error("a");
  a.cause = new Error("b", { cause: a });
  t.equal(exitCodeFor(withCause(Code.Internal, a)), EXIT.failed, "a cycle without a network error ends");
});

t.test("a system error that is not about the network leaves an unlisted code failed", async (t) => {
  t.equal(exitCodeFor(withCause(Code.Internal, systemError("ENOENT"))), EXIT.failed, "a missing file is not an unreachable service");
  t.equal(exitCodeFor(withCause(Code.Internal, systemError("EACCES"))), EXIT.failed);
});

t.test("describe gives the Connect code name and the raw message, never a stack", async (t) => {
  const names: Record<Code, string> = {
    [Code.Canceled]: "canceled",
    [Code.Unknown]: "unknown",
    [Code.InvalidArgument]: "invalid_argument",
    [Code.DeadlineExceeded]: "deadline_exceeded",
    [Code.NotFound]: "not_found",
    [Code.AlreadyExists]: "already_exists",
    [Code.PermissionDenied]: "permission_denied",
    [Code.ResourceExhausted]: "resource_exhausted",
    [Code.FailedPrecondition]: "failed_precondition",
    [Code.Aborted]: "aborted",
    [Code.OutOfRange]: "out_of_range",
    [Code.Unimplemented]: "unimplemented",
    [Code.Internal]: "internal",
    [Code.Unavailable]: "unavailable",
    [Code.DataLoss]: "data_loss",
    [Code.Unauthenticated]: "unauthenticated",
  };
  for (const [code, name] of Object.entries(names)) {
    t.equal(describe(new ConnectError("something went wrong", Number(code) as Code)), `${name}: something went wrong`, name);
  }
  const error = withCause(Code.NotFound, systemError("ECONNRESET"));
  t.equal(describe(error), "not_found: failed", "the raw message, without the [code] prefix of error.message");
  t.notMatch(describe(error), /\n|ECONNRESET/, "one line, no cause");
});

t.test("describe calls a code Connect does not know unknown", async (t) => {
  t.equal(describe(new ConnectError("odd", 99 as Code)), "unknown: odd");
  t.equal(describe(new ConnectError("zero", 0 as Code)), "unknown: zero");
});

t.test("reportFailure prints one line per failure, never a stack, and returns the exit code", async (t) => {
  const run = (error: unknown, target?: { url: string; from: string }) => {
    let text = "";
    const code = reportFailure(error, { stderr: (s) => (text += s), usage: "usage: here", target });
    return { code, text };
  };
  t.same(run(new UsageError("bad flag")), { code: EXIT.invalid, text: "coral-discovery: bad flag\n\nusage: here\n" });
  const parseError = Object.assign(new TypeError("Unknown option '--x'"), { code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" });
  t.same(run(parseError), { code: EXIT.invalid, text: "coral-discovery: Unknown option '--x'\n\nusage: here\n" });
  t.same(run(new ConnectError("no such mesh", Code.NotFound), { url: "http://x", from: "--url" }), { code: EXIT.notFound, text: "coral-discovery: not_found: no such mesh\n" });
  const unreachable = run(withCause(Code.Unavailable, systemError("ECONNREFUSED")), { url: "http://127.0.0.1:1", from: "the default" });
  t.equal(unreachable.code, EXIT.unreachable);
  t.match(unreachable.text, /no service answered at http:\/\/127\.0\.0\.1:1 \(the default\); point to it with --url/);
  t.notMatch(run(withCause(Code.Unavailable, systemError("ECONNREFUSED"))).text, /no service answered/, "no hint without a URL");
  t.same(run(new Error("disk full")), { code: EXIT.failed, text: "coral-discovery: disk full\n" });
  t.same(run("a string"), { code: EXIT.failed, text: "coral-discovery: a string\n" });
  t.same(run(Object.assign(new Error("x"), { code: 42 })), { code: EXIT.failed, text: "coral-discovery: x\n" }, "a non-string code is no parse error");
});
