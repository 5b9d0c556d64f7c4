import t from "tap";
import { CLIENT_COMMANDS, CLIENT_USAGE, DEFAULT_URL } from "../../src/cli/client-usage.js";

t.test("every client command is in the usage text, with the default URL and the exit codes", async (t) => {
  for (const command of CLIENT_COMMANDS) t.match(CLIENT_USAGE, `coral-discovery ${command}`);
  t.match(CLIENT_USAGE, DEFAULT_URL);
  t.equal(DEFAULT_URL, "http://127.0.0.1:8080", "the daemon's default port on this machine");
  t.match(CLIENT_USAGE, /Exit codes: 0 ok, 1 other failure, 2 invalid input, 3 not found, 4 unreachable, 5 refused/);
});
