#!/usr/bin/env node
// Rewrites the README's option tables from the option table (src/config/options.ts):
// every block between <!-- options:GROUP --> and <!-- /options:GROUP -->.
// Run after `npm run build`; test/config/help.test.ts fails while they differ.
import { readFileSync, writeFileSync } from "node:fs";
import { optionsMarkdown } from "../dist/src/config/index.js";

const path = new URL("../README.md", import.meta.url);
const before = readFileSync(path, "utf8");
const after = before.replace(
  /<!-- options:(\w+) -->\n(?:[\s\S]*?\n)?<!-- \/options:\1 -->/g,
  (_, group) => `<!-- options:${group} -->\n${optionsMarkdown(group)}\n<!-- /options:${group} -->`,
);
if (after === before) {
  console.log("README option tables are current");
} else {
  writeFileSync(path, after);
  console.log("README option tables rewritten");
}
