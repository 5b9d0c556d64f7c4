// The project's dependency rules: no import cycle, and imports only point
// down the layers
//   gen -> net, limits, tokens, timers, version -> registry -> service -> server, state
//       -> config -> app, sweeper, listen, state-setup -> index, main, cli
// (the client library sits beside service: it may use gen, timers and net).
// `npm run check-deps` runs dependency-cruiser with these rules on the compiled
// JavaScript (dist/); test/architecture.test.ts applies the same rules to the
// TypeScript sources, type-only imports included (dependency-cruiser 16 cannot
// read TypeScript 6, and the compiler erases type-only imports).
const at = (path) => `^(dist/)?${path}`;
const layers = [
  [at("gen/")],
  [at("src/net/"), at("src/limits/"), at("src/tokens/"), at("src/timers\\.[jt]s$"), at("src/version\\.[jt]s$")],
  [at("src/registry/")],
  [at("src/service/"), at("src/client/"), at("src/store/")],
  [at("src/server/"), at("src/state/")],
  [at("src/config/")],
  [at("src/app\\.[jt]s$"), at("src/sweeper\\.[jt]s$"), at("src/listen\\.[jt]s$"), at("src/state-setup\\.[jt]s$")],
  [at("src/index\\.[jt]s$"), at("src/main\\.[jt]s$"), at("src/cli/")],
];

const upward = layers.slice(0, -1).map((paths, i) => ({
  name: `layer-${i}-imports-no-higher-layer`,
  comment: `${paths.join(", ")} may import only from the layers below: ${layers.slice(0, i).flat().join(", ") || "nothing of ours"}`,
  severity: "error",
  from: { path: paths },
  to: { path: layers.slice(i + 1).flat() },
}));

module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", comment: "import cycles make modules impossible to load or test alone", from: {}, to: { circular: true } },
    ...upward,
    {
      name: "service-and-client-apart",
      severity: "error",
      comment: "the client library ships to users without the server; the service never needs the client",
      from: { path: at("src/(service|client)/") },
      to: { path: at("src/(service|client)/"), pathNot: at("src/$2/") },
    },
    {
      name: "registry-is-pure",
      severity: "error",
      comment: "the lease store does no I/O and owns no timers: time is injected",
      from: { path: at("src/registry/") },
      to: { dependencyTypes: ["core"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(test|node_modules)/" },
  },
};
