import t from "tap";
import { ConfigError, loadConfig, resolveConfig } from "../../src/config/index.js";
import { adminToken, MIN_ADMIN_TOKEN_LENGTH } from "../../src/config/admin-token.js";

const TOKEN = "0123456789abcdef";
const files = (content: Record<string, string>) => ({
  readFile: (path: string) => {
    const text = content[path];
    if (text === undefined) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
    return text;
  },
});

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

t.test("without --admin-token-file or ADMIN_TOKEN there is no token (the admin service is disabled)", async (t) => {
  t.equal(loadConfig([], {}).adminToken, undefined);
  t.equal(adminToken().show(undefined), "none (admin service disabled)");
});

t.test("--admin-token-file reads the token from a file, trimmed; ADMIN_TOKEN holds the token itself", async (t) => {
  t.equal(loadConfig(["--admin-token-file", "/run/secrets/admin"], {}, files({ "/run/secrets/admin": `  ${TOKEN}\n` })).adminToken, TOKEN);
  t.equal(loadConfig([], { ADMIN_TOKEN: `${TOKEN}\n` }).adminToken, TOKEN);
  t.equal(resolveConfig({ adminToken: TOKEN }).adminToken, TOKEN, "startDiscovery({ adminToken })");
  t.equal(MIN_ADMIN_TOKEN_LENGTH, 16);
});

t.test("an empty, short or unreadable token is refused at start-up, without quoting the token", async (t) => {
  t.same(problems(() => loadConfig(["--admin-token-file", "/t"], {}, files({ "/t": " \n" }))), [
    "--admin-token-file /t: is empty: an admin token must be at least 16 characters; make one with: openssl rand -hex 32",
  ]);
  t.same(problems(() => loadConfig([], { ADMIN_TOKEN: "0123456789abcde" })), [
    "ADMIN_TOKEN: is only 15 characters long: an admin token must be at least 16 characters; make one with: openssl rand -hex 32",
  ]);
  t.same(problems(() => loadConfig(["--admin-token-file", "/missing"], {}, files({}))), [
    "--admin-token-file /missing: cannot read the admin token file (ENOENT)",
  ]);
  t.same(problems(() => loadConfig(["--admin-token-file", "/odd"], {}, { readFile: () => { throw "weird"; } })), [
    "--admin-token-file /odd: cannot read the admin token file (weird)",
  ]);
  t.same(problems(() => resolveConfig({ adminToken: 42 as unknown as string })), ["adminToken: 42 must be the admin token as a string"]);
  t.same(problems(() => resolveConfig({ adminToken: "short" })), [
    "adminToken: is only 5 characters long: an admin token must be at least 16 characters; make one with: openssl rand -hex 32",
  ]);
});

t.test("help and the README never show the token", async (t) => {
  t.equal(adminToken().show(TOKEN), "set (not shown)");
});
