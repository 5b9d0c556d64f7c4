// The dependency rules of .dependency-cruiser.cjs, applied to the TypeScript
// sources with type-only imports included (dependency-cruiser itself checks
// the compiled JavaScript in CI, where type-only imports are gone).
import t from "tap";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, normalize, relative } from "node:path";
import { ROOT, fromRoot } from "./fixtures/paths.js";

interface PathRule {
  path?: string | string[];
  pathNot?: string | string[];
  circular?: boolean;
  dependencyTypes?: string[];
}
interface Rule {
  name: string;
  from: PathRule;
  to: PathRule;
}

const { forbidden } = createRequire(import.meta.url)(fromRoot(".dependency-cruiser.cjs")) as { forbidden: Rule[] };

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+"([^"]+)"|(?:^|\n)\s*import\s+"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/g;

/** Every module's imports: project files (as paths from the root, .ts) and node built-ins (as "core:<name>"). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of [...sources("src"), ...sources("gen")]) {
    const text = readFileSync(join(ROOT, file), "utf8");
    const targets: string[] = [];
    for (const match of text.matchAll(IMPORT)) {
      const spec = (match[1] ?? match[2] ?? match[3]) as string;
      if (spec.startsWith(".")) targets.push(normalize(join(dirname(file), spec)).replace(/\.js$/, ".ts"));
      else if (spec.startsWith("node:")) targets.push(`core:${spec.slice(5)}`);
    }
    graph.set(file, targets);
  }
  return graph;
}

const asList = (value: string | string[] | undefined) => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** The groups of the first `from.path` pattern that matches `file`, or undefined when none does. */
function matchFrom(rule: Rule, file: string): RegExpExecArray | undefined {
  for (const pattern of asList(rule.from.path)) {
    const match = new RegExp(pattern).exec(file);
    if (match !== null) return match;
  }
  return asList(rule.from.path).length === 0 ? (/.*/.exec(file) as RegExpExecArray) : undefined;
}

function violates(rule: Rule, from: RegExpExecArray, target: string): boolean {
  if (rule.to.dependencyTypes?.includes("core")) return target.startsWith("core:");
  if (target.startsWith("core:")) return false;
  const fill = (pattern: string) => pattern.replace(/\$(\d)/g, (_, n: string) => from[Number(n)] ?? "");
  if (!asList(rule.to.path).some((p) => new RegExp(fill(p)).test(target))) return false;
  return !asList(rule.to.pathNot).some((p) => new RegExp(fill(p)).test(target));
}

function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "visiting");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "visiting") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next) && graph.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

const graph = importGraph();

t.test("the import graph was read: every relative import resolves to a source file", async (t) => {
  t.ok(graph.size > 50, `${graph.size} modules`);
  for (const [file, targets] of graph) {
    for (const target of targets) if (!target.startsWith("core:")) t.ok(graph.has(target), `${file} -> ${relative(".", target)}`);
  }
});

t.test("no import cycle, type-only imports included", async (t) => {
  t.same(cycles(graph), []);
});

t.test("every forbidden dependency rule holds for the TypeScript sources", async (t) => {
  const rules = forbidden.filter((rule) => rule.to.circular !== true);
  t.ok(rules.length >= 8, "the layer rules and the others were loaded");
  for (const rule of rules) {
    const broken: string[] = [];
    for (const [file, targets] of graph) {
      const from = matchFrom(rule, file);
      if (from === undefined) continue;
      for (const target of targets) if (violates(rule, from, target)) broken.push(`${file} -> ${target}`);
    }
    t.same(broken, [], rule.name);
  }
});

t.test("the checker itself finds a cycle and an upward import when there is one", async (t) => {
  t.same(cycles(new Map([["a", ["b"]], ["b", ["a"]]])), [["a", "b", "a"]]);
  const registryRule = forbidden.find((rule) => rule.name === "layer-2-imports-no-higher-layer") as Rule;
  const from = matchFrom(registryRule, "src/registry/registry.ts") as RegExpExecArray;
  t.ok(violates(registryRule, from, "src/service/errors.ts"), "registry -> service is upward");
  t.notOk(violates(registryRule, from, "src/net/address.ts"), "registry -> net is downward");
  const pure = forbidden.find((rule) => rule.name === "registry-is-pure") as Rule;
  t.ok(violates(pure, from, "core:fs"));
  const apart = forbidden.find((rule) => rule.name === "service-and-client-apart") as Rule;
  const service = matchFrom(apart, "src/service/x.ts") as RegExpExecArray;
  t.ok(violates(apart, service, "src/client/errors.ts"));
  t.notOk(violates(apart, service, "src/service/errors.ts"), "within its own folder is fine");
});

t.test("the snapshot layer (src/state) sits above the service and below the config; its wiring beside the app", async (t) => {
  const stateRule = forbidden.find((rule) => rule.name === "layer-4-imports-no-higher-layer") as Rule;
  const state = matchFrom(stateRule, "src/state/snapshot-file.ts") as RegExpExecArray;
  t.ok(state, "src/state is in the server's layer");
  t.notOk(violates(stateRule, state, "src/service/lease-codec.ts"), "state -> service is downward");
  t.ok(violates(stateRule, state, "src/config/options.ts"), "state -> config is upward");
  t.ok(violates(stateRule, state, "src/state-setup.ts"), "state -> its wiring is upward");
  const appRule = forbidden.find((rule) => rule.name === "layer-6-imports-no-higher-layer") as Rule;
  const setup = matchFrom(appRule, "src/state-setup.ts") as RegExpExecArray;
  t.ok(setup, "src/state-setup.ts is in the app's layer");
  t.ok(violates(appRule, setup, "src/main.ts"), "state-setup -> main is upward");
});
