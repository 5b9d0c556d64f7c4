import t from "tap";
import { CLIENT_COMMANDS, CLIENT_USAGE, COMMANDS, DEFAULT_URL, unknownCommand } from "../../src/cli/client-usage.js";

t.test("every client command is in the usage text, with the default URL and the exit codes", async (t) => {
  for (const command of CLIENT_COMMANDS) t.match(CLIENT_USAGE, `coral-discovery ${command}`);
  t.match(CLIENT_USAGE, DEFAULT_URL);
  t.equal(DEFAULT_URL, "http://127.0.0.1:8080", "the daemon's default port on this machine");
  t.match(CLIENT_USAGE, /Exit codes: 0 ok, 1 other failure, 2 invalid input, 3 not found, 4 unreachable, 5 refused/);
});

t.test("an unknown command gets the closest known one, or a pointer to help", async (t) => {
  t.equal(unknownCommand("regster"), 'unknown command "regster"; did you mean register?');
  t.equal(unknownCommand("wgkey"), 'unknown command "wgkey"; did you mean wg-key?');
  t.equal(unknownCommand("frobnicate"), 'unknown command "frobnicate"; run coral-discovery help for the commands');
  for (const command of CLIENT_COMMANDS) t.ok(COMMANDS.includes(command), `${command} is a command`);
});
