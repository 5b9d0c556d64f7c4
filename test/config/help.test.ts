import t from "tap";
import { readFileSync } from "node:fs";
import { fromRoot } from "../fixtures/paths.js";
import { OPTIONS, optionHelpLines, optionsMarkdown, type OptionGroup } from "../../src/config/index.js";

const README = readFileSync(fromRoot("README.md"), "utf8");

t.test("--help has one line per option, with its default and env var", async (t) => {
  const lines = optionHelpLines();
  const rows = Object.values(OPTIONS);
  t.equal(lines.length, rows.length);
  rows.forEach((spec, i) => {
    const line = lines[i] as string;
    t.match(line, `--${spec.flag} ${spec.arg}`);
    t.match(line, "(default ");
    if (spec.env !== undefined) t.match(line, `[env ${spec.env}`);
    t.notMatch(line, "`", "no Markdown in the terminal");
  });
  t.match(optionHelpLines().find((l) => l.includes("--cleanup-interval")), /\(default 60\) \[env CLEANUP_INTERVAL_MS, milliseconds\]/);
  t.match(optionHelpLines().find((l) => l.includes("--rate-register")), /\(default 20:40\)/);
  t.match(optionHelpLines().find((l) => l.includes("--signing-key-file")), /\(default a fresh key per process\)/);
});

t.test("the README's option tables are exactly the ones derived from the table (run scripts/readme-options.mjs to refresh)", async (t) => {
  const groups = new Set(Object.values(OPTIONS).map((spec) => spec.group));
  for (const group of groups as Set<OptionGroup>) {
    const block = new RegExp(`<!-- options:${group} -->\\n([\\s\\S]*?)\\n<!-- /options:${group} -->`).exec(README);
    t.ok(block, `the README has the ${group} table`);
    t.equal(block?.[1], optionsMarkdown(group), `the ${group} table is current`);
  }
});

t.test("every option is in exactly one README table, with its flag and env var", async (t) => {
  for (const spec of Object.values(OPTIONS)) {
    const table = optionsMarkdown(spec.group);
    t.match(table, `--${spec.flag} ${spec.arg.replaceAll("|", "\\|")}\``);
    if (spec.env !== undefined) t.match(table, `\`${spec.env}\``);
  }
});
