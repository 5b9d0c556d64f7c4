// Text derived from the option table: `--help` and the README's option tables.
import { optionRows, type OptionGroup, type OptionSpec } from "./options.js";

function defaultOf(spec: OptionSpec<unknown, unknown>): string {
  return spec.defaultText ?? spec.show(spec.default);
}

function flagColumn(spec: OptionSpec<unknown, unknown>): string {
  const short = spec.short === undefined ? "" : `-${spec.short}, `;
  return `${short}--${spec.flag} ${spec.arg}`;
}

/** The option lines of `--help`, in table order. */
export function optionHelpLines(): string[] {
  return optionRows().map(([, spec]) => {
    const env = spec.env === undefined ? "" : ` [env ${spec.env}${spec.envNote === undefined ? "" : `, ${spec.envNote}`}]`;
    const plain = spec.help.replaceAll("`", "");
    return `${`  ${flagColumn(spec)}`.padEnd(34)}${plain} (default ${defaultOf(spec).replaceAll("`", "")})${env}`;
  });
}

/** A table cell: a `|` would end it. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

/** The README table of one group (Markdown), exactly as the README must contain it. */
export function optionsMarkdown(group: OptionGroup): string {
  const lines = ["| flag | env | startDiscovery() | default | meaning |", "|---|---|---|---|---|"];
  for (const [key, spec] of optionRows()) {
    if (spec.group !== group) continue;
    const env = spec.env === undefined ? "" : `\`${spec.env}\`${spec.envNote === undefined ? "" : ` (${spec.envNote})`}`;
    const fallback = defaultOf(spec);
    const shown = /\s/.test(fallback) && !fallback.includes("`") ? fallback : `\`${fallback}\``;
    lines.push(`| ${cell(`\`${flagColumn(spec)}\``)} | ${env} | \`${key}\` | ${cell(shown)} | ${cell(spec.help)} |`);
  }
  return lines.join("\n");
}
