import t from "tap";
import { redactUrl, redisUrl } from "../../src/config/redis.js";

const parser = redisUrl();
const ctx = { from: "--redis-url" } as never;

t.test("Redis URLs: redis:// and rediss:// with a host, optional credentials, port and database", async (t) => {
  t.equal(parser.fromText(["redis://127.0.0.1:6379"], ctx), "redis://127.0.0.1:6379");
  t.equal(parser.fromText(["rediss://user:secret@redis.example:6380/2"], ctx), "rediss://user:secret@redis.example:6380/2");
  t.equal(parser.fromText(["  "], ctx), undefined, "blank: none");
  t.equal(parser.fromValue(undefined, ctx), undefined);
  t.equal(parser.fromValue("redis://[::1]:6379/0", ctx), "redis://[::1]:6379/0");
});

t.test("anything else is refused, saying what is allowed and never echoing a password", async (t) => {
  t.throws(() => parser.fromText(["127.0.0.1:6379"], ctx), { message: /"127\.0\.0\.1:6379" is not a (URL|Redis URL): use redis:\/\/\[user:password@\]host:port\[\/db\] or rediss:\/\/\.\.\. \(TLS\)/ });
  t.throws(() => parser.fromText(["http://127.0.0.1:6379"], ctx), { message: /is not a Redis URL/ });
  t.throws(() => parser.fromText(["not a url"], ctx), { message: /is not a URL/ });
  t.throws(() => parser.fromText(["redis://"], ctx), { message: /(names no host|is not a URL)/ });
  t.throws(() => parser.fromText(["redis://u:hunter2@h:1/x"], ctx), { message: /the database "x" is not a number/ });
  const error = (() => {
    try {
      parser.fromText(["redis://u:hunter2@h:1/x"], ctx);
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  })();
  t.notMatch(error, /hunter2/, "the password is not in the message");
  t.throws(() => parser.fromValue(42 as never, ctx), { message: /42 must be a Redis URL/ });
});

t.test("shown and logged without the password", async (t) => {
  t.equal(parser.show("redis://user:hunter2@h:6379/1"), "redis://user:***@h:6379/1");
  t.equal(parser.show(undefined), "none");
  t.equal(redactUrl("rediss://:pw@h:1"), "rediss://:***@h:1");
  t.equal(redactUrl("redis://h:1"), "redis://h:1");
});
