// tap's coverage map: which source files each test file is accountable for.
// tap runs the compiled tests, so paths are dist/'s: the unit test
// dist/test/a/b.test.js covers dist/src/a/b.js (reported as src/a/b.ts through
// its source map). A unit test covers its own unit plus the
// few files listed below (barrels, error types, constants that have no
// behaviour of their own); end-to-end and abuse suites cover nothing, so every
// source file's coverage comes from the tests of that unit.
// scripts/check-coverage.mjs then holds each file to its threshold.

/** Extra files a unit test is accountable for, besides its own unit. */
const EXTRA = {
  "test/registry/registry.test.ts": ["src/registry/errors.ts", "src/registry/index.ts"],
  "test/registry/registry-restore.test.ts": ["src/registry/registry.ts"],
  "test/config/load.test.ts": ["src/config/options.ts", "src/config/keys.ts", "src/config/index.ts"],
  "test/tokens/signing-key.test.ts": ["src/tokens/index.ts"],
  "test/service/connect-adapter.test.ts": ["src/service/context.ts"],
  "test/app.test.ts": ["src/version.ts", "src/registry-limits.ts"],
  "test/store/redis-store.test.ts": ["src/store/redis-scripts.ts", "src/store/redis-fault.ts"],
  // The TLS half of the one-port server is tested through it, over real TLS.
  "test/server/tls-front.test.ts": ["src/server/dual-protocol.ts"],
};

/**
 * Suites that exercise the whole daemon: they are accountable for no single
 * file. test/main.test.ts runs the binary as child processes, whose coverage
 * tap does not collect (see NOT_COVERED in scripts/check-coverage.mjs).
 */
const WHOLE = [/^test\/e2e\//, /^test\/abuse\//, /^test\/main\.test\.ts$/];

const compiled = (source) => `dist/${source.replace(/\.ts$/, ".js")}`;

export default function coverageMap(testFile) {
  const match = /^(?:dist\/)?(test\/.+)\.test\.[jt]s$/.exec(testFile);
  if (match === null) return null;
  const test = `${match[1]}.test.ts`;
  if (WHOLE.some((pattern) => pattern.test(test))) return null;
  return [`src/${match[1].slice(5)}.ts`, ...(EXTRA[test] ?? [])].map(compiled);
}
