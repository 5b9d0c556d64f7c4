import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { isFinalRegistrationError, isNetworkError, isRetryableLookupError, toConnectError } from "../../src/client/errors.js";

/** An Error with a Node system error code, as node:net and node:dns throw them. */
const systemError = (code: string, message = `${code} happened`) => Object.assign(new Error(message), { code });

t.test("which errors are retried", async (t) => {
  const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
  const viaReset = new ConnectError("stream closed", Code.Aborted, undefined, undefined, reset);
  t.ok(isNetworkError(viaReset), "ECONNRESET in the cause chain");
  t.ok(isRetryableLookupError(viaReset), "connect-node reports a reset as aborted; still a network error");
  t.notOk(isRetryableLookupError(new ConnectError("stream closed", Code.Aborted)), "aborted without a network cause");
  for (const code of [Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted, Code.NotFound]) {
    t.ok(isRetryableLookupError(new ConnectError("x", code)), `lookup retries ${Code[code]}`);
  }
  for (const code of [Code.InvalidArgument, Code.Canceled]) {
    t.notOk(isRetryableLookupError(new ConnectError("x", code, undefined, undefined, reset)), `lookup never retries ${Code[code]}, network cause or not`);
  }
  for (const code of [Code.PermissionDenied, Code.Internal, Code.Unimplemented]) {
    t.notOk(isRetryableLookupError(new ConnectError("x", code)), `lookup does not retry ${Code[code]} from the service`);
  }
  const pipe = new ConnectError("write EPIPE", Code.Internal, undefined, undefined, Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
  t.ok(isRetryableLookupError(pipe), "connect-node reports some socket errors as internal: the cause decides");
  t.ok(isFinalRegistrationError(new ConnectError("x", Code.InvalidArgument)));
  t.ok(isFinalRegistrationError(new ConnectError("x", Code.AlreadyExists)));
  t.notOk(isFinalRegistrationError(new ConnectError("x", Code.Unavailable)));
});

t.test("toConnectError keeps a ConnectError and wraps anything else with its cause", async (t) => {
  const connectError = new ConnectError("gone", Code.NotFound);
  t.equal(toConnectError(connectError), connectError, "the same instance");

  const refused = systemError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:1");
  const wrapped = toConnectError(refused);
  t.equal(wrapped.code, Code.Unknown);
  t.equal(wrapped.rawMessage, "connect ECONNREFUSED 127.0.0.1:1");
  t.equal(wrapped.cause, refused, "the Node error stays the cause");
  t.ok(isNetworkError(wrapped), "so it is still recognised as a network error");

  const thrownString = toConnectError("just a string");
  t.equal(thrownString.code, Code.Unknown);
  t.equal(thrownString.rawMessage, "just a string");

  const abort = toConnectError(new DOMException("This operation was aborted", "AbortError"));
  t.equal(abort.code, Code.Canceled, "an AbortError is canceled");
});

t.test("every Node network error code is a network error, directly or anywhere in the cause chain", async (t) => {
  const codes = ["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN", "ENOTFOUND", "EAI_AGAIN"];
  for (const code of codes) {
    t.ok(isNetworkError(systemError(code)), `${code} itself`);
    const deep = new ConnectError("outer", Code.Internal, undefined, undefined, new Error("middle", { cause: new Error("inner", { cause: systemError(code) }) }));
    t.ok(isNetworkError(deep), `${code} three causes down`);
  }
});

t.test("other errors and values are not network errors", async (t) => {
  t.notOk(isNetworkError(systemError("ENOENT")), "a file system code");
  t.notOk(isNetworkError(systemError("ERR_HTTP2_STREAM_ERROR")), "a Node internal code");
  t.notOk(isNetworkError(systemError("econnreset")), "codes are case-sensitive");
  t.notOk(isNetworkError(Object.assign(new Error("numeric"), { code: 104 })), "a numeric code");
  t.notOk(isNetworkError(new ConnectError("unavailable", Code.Unavailable)), "a Connect code alone");
  t.notOk(isNetworkError({ code: "ECONNRESET" }), "a plain object with a network code is not an Error");
  t.notOk(isNetworkError(new Error("wrapper", { cause: { code: "ECONNRESET" } })), "nor is it as a cause");
  t.notOk(isNetworkError("ECONNRESET"), "a string");
  t.notOk(isNetworkError(undefined), "undefined");
  t.notOk(isNetworkError(null), "null");
});

t.test("a cause chain that loops ends the search", async (t) => {
  const self = new Error("self");
  self.cause = self;
  t.notOk(isNetworkError(self), "an error that is its own cause");
  const a = new Error("a");
  const c = new Error("c", { cause: a });
  a.cause = new Error("b", { cause: c });
  t.notOk(isNetworkError(a), "a cycle of three without a network error");
  const pipe = systemError("EPIPE", "write EPIPE");
  const top = new Error("top", { cause: pipe });
  pipe.cause = top;
  t.ok(isNetworkError(top), "a network error inside a cycle is still found");
});

t.test("a network cause makes every code retryable for lookups except invalid_argument and canceled", async (t) => {
  const reset = systemError("ECONNRESET");
  const retried = [Code.Unknown, Code.Aborted, Code.Internal, Code.PermissionDenied, Code.Unimplemented, Code.DataLoss, Code.Unauthenticated];
  for (const code of retried) {
    t.ok(isRetryableLookupError(new ConnectError("x", code, undefined, undefined, reset)), `${Code[code]} with a reset cause`);
  }
  for (const code of [Code.Unknown, Code.AlreadyExists, Code.FailedPrecondition, Code.OutOfRange, Code.Unauthenticated]) {
    t.notOk(isRetryableLookupError(new ConnectError("x", code)), `${Code[code]} without a network cause`);
  }
});

t.test("only invalid_argument, already_exists, permission_denied and unauthenticated end a registration round", async (t) => {
  const final = new Set([Code.InvalidArgument, Code.AlreadyExists, Code.PermissionDenied, Code.Unauthenticated]);
  const allCodes = Object.values(Code).filter((v): v is Code => typeof v === "number");
  t.equal(allCodes.length, 16, "every Connect code is checked");
  for (const code of allCodes) {
    t.equal(isFinalRegistrationError(new ConnectError("x", code)), final.has(code), Code[code]);
  }
  t.notOk(isFinalRegistrationError(new ConnectError("x", Code.Unavailable, undefined, undefined, systemError("ECONNRESET"))), "a network error is not final");
});
