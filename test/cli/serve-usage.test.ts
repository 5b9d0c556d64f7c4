import t from "tap";
import { serveUsage } from "../../src/cli/serve-usage.js";
import { optionHelpLines } from "../../src/config/index.js";

t.test("the daemon's help has its usage, every option line of the table, --version and --help", async (t) => {
  const help = serveUsage();
  t.match(help, /^Usage: coral-discovery \[serve\] \[options\]\n/);
  t.match(help, "coral-discovery keygen");
  for (const line of optionHelpLines()) t.ok(help.includes(line), line.trim().split(" ")[0] ?? line);
  t.match(help, /--version +print the version and exit/);
  t.match(help, /--help +print this help and exit/);
  t.match(help, /Flags win over environment variables\.$/);
});
