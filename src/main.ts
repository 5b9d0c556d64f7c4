#!/usr/bin/env node
// The process entry: the only place that reads argv and env, listens and
// traps signals. Everything else is built by buildApp. The server and the
// client are imported only when needed, so --version, --help and keygen
// start fast.
import { CLIENT_COMMANDS, CLIENT_USAGE, COMMANDS, unknownCommand } from "./cli/client-usage.js";
import { serveUsage } from "./cli/serve-usage.js";
import { ConfigError, loadConfig, type Config } from "./config/index.js";
import { formatSigningKey, generateSigningKey } from "./tokens/index.js";
import { VERSION } from "./version.js";

/** How long a graceful shutdown may take before open connections are cut. */
const SHUTDOWN_GRACE_MS = 8_000;
/** How often a daemon started by npm checks that its parent still runs. */
const PARENT_CHECK_MS = 500;
/** The parent as the process started: read first, so a parent gone while the daemon starts still counts. */
const PARENT_AT_START = process.ppid;

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "help") {
    // `help <client command>` is that command's usage; `help` alone is everything.
    process.stdout.write(argv[1] !== undefined && CLIENT_COMMANDS.has(argv[1]) ? `${CLIENT_USAGE}\n` : `${serveUsage()}\n\n${CLIENT_USAGE}\n`);
    return;
  }
  if (argv[0] === "version") argv = ["--version"];
  if (argv[0] !== undefined && !argv[0].startsWith("-") && !COMMANDS.includes(argv[0])) {
    process.stderr.write(`coral-discovery: ${unknownCommand(argv[0])}\n`);
    process.exitCode = 2;
    return;
  }
  if (argv[0] === "wg-key") {
    const { runWgKey } = await import("./cli/wg-key.js");
    process.exitCode = runWgKey(argv.slice(1), {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    });
    return;
  }
  if (argv[0] !== undefined && CLIENT_COMMANDS.has(argv[0])) {
    if (argv.includes("--help") || argv.includes("-h")) {
      process.stdout.write(`${CLIENT_USAGE}\n`);
      return;
    }
    const { runClientCommand } = await import("./cli/client-commands.js");
    const interrupted = new AbortController();
    const stop = () => interrupted.abort();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    process.exitCode = await runClientCommand(argv, {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
      env: process.env,
      signal: interrupted.signal,
      statusLine: process.stderr.isTTY === true,
    });
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    return;
  }
  if (argv[0] === "serve") argv = argv.slice(1);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${serveUsage()}\n\n${CLIENT_USAGE}\n`);
    return;
  }
  if (argv.includes("--version") || argv.includes("-v")) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (argv[0] === "keygen") {
    // A key in the DISCOVERY_SIGNING_KEY format, so operators need no other tool.
    process.stdout.write(`${formatSigningKey(generateSigningKey())}\n`);
    return;
  }

  let config: Config;
  try {
    config = loadConfig(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`coral-discovery: ${error.message}\nRun coral-discovery --help for the options.\n`);
    process.exitCode = 2;
    return;
  }

  const [{ buildApp }, { listen, writeReadyFile, removeReadyFile, PortInUseError }, { createDrain }, { StateFileError }] = await Promise.all([
    import("./app.js"),
    import("./listen.js"),
    import("./server/probes.js"),
    import("./state-setup.js"),
  ]);
  // With --state-file, buildApp takes the key kept in the file (or generates one and keeps it).
  const signingKey = config.signingKey ?? (config.stateFile === undefined ? generateSigningKey() : undefined);
  // Flipped on SIGTERM/SIGINT, before the listener closes: /readyz answers 503 from then on.
  const drain = createDrain();
  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp({ config, ...(signingKey && { signingKey }), readiness: [drain] });
  } catch (error) {
    if (!(error instanceof StateFileError)) throw error;
    process.stderr.write(`coral-discovery: ${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  // Fastify logs "Server listening at ..." during listen(); the RFD 001 banner
  // comes first, so that line is held back and the address logged after it.
  app.log.level = "warn";
  let listening: Awaited<ReturnType<typeof listen>>;
  try {
    listening = await listen(app, config.host, config.port);
  } catch (error) {
    if (!(error instanceof PortInUseError)) throw error;
    process.stderr.write(`coral-discovery: ${error.message}\n`);
    process.exitCode = 1;
    await app.close();
    return;
  }
  app.log.level = config.logLevel;
  if (config.readyFile !== undefined) await writeReadyFile(config.readyFile, listening, process.pid);
  process.stdout.write(
    `Discovery Service v${VERSION}\ngRPC server listening on :${listening.port}${listening.url.startsWith("https:") ? " over TLS (https://)" : ""}\nReady to accept registrations\n`,
  );
  app.log.info(
    {
      url: listening.url,
      host: config.host,
      jwks: `${listening.url}/.well-known/jwks.json`,
      ttlSeconds: config.ttlSeconds,
      relays: config.relays.length,
      readyFile: config.readyFile,
    },
    "listening",
  );
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    // A renewed certificate (e.g. a certbot deploy hook running `kill -HUP <pid>`) is re-read without a restart.
    const { reloadTls, servedCertificate } = await import("./server/tls-reload.js");
    const paths = { cert: config.tlsCert, key: config.tlsKey };
    app.log.info({ ...paths, ...servedCertificate(app.server) }, "serving TLS (ALPN h2, http/1.1); SIGHUP re-reads the certificate and key");
    process.on("SIGHUP", () => reloadTls(app.server, paths, app.log));
  }
  if (config.trustProxy.length === 0 && ["::", "0.0.0.0"].includes(config.host)) {
    app.log.warn(
      { host: config.host },
      "listening on every interface without --trust-proxy: if a reverse proxy on this host forwards to this port, " +
        "every client looks like the proxy (and loopback is exempt from rate limits); start with --trust-proxy <the proxy's address> then",
    );
  }
  if (signingKey !== undefined && config.signingKey === undefined) {
    app.log.info(
      { kid: signingKey.kid },
      "generated an ephemeral token signing key: tokens stop verifying after a restart; set DISCOVERY_SIGNING_KEY for a stable one",
    );
  }

  let closing = false;
  const shutdown = (reason: NodeJS.Signals | "parent exited") => {
    if (closing) return;
    closing = true;
    drain.start();
    if (config.shutdownDelayMs > 0) {
      // Keep serving while load balancers see /readyz fail; a second signal ends the wait.
      app.log.info({ ...(reason === "parent exited" ? { reason } : { signal: reason }), delayMs: config.shutdownDelayMs }, "draining: /readyz answers 503");
      const close = () => {
        clearTimeout(wait);
        process.off("SIGTERM", close);
        process.off("SIGINT", close);
        closeApp(reason);
      };
      const wait = setTimeout(close, config.shutdownDelayMs);
      process.once("SIGTERM", close);
      process.once("SIGINT", close);
      return;
    }
    closeApp(reason);
  };
  const closeApp = (reason: NodeJS.Signals | "parent exited") => {
    app.log.info(reason === "parent exited" ? { reason } : { signal: reason }, "shutting down: finishing in-flight requests");
    const force = setTimeout(() => {
      app.log.warn("shutdown grace period over: closing remaining connections");
      app.server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    app.close().then(
      async () => {
        clearTimeout(force);
        if (config.readyFile !== undefined) await removeReadyFile(config.readyFile, process.pid);
        process.exitCode = 0;
      },
      (error: unknown) => {
        app.log.error({ err: error }, "error while shutting down");
        process.exitCode = 1;
      },
    );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  if (process.env.npm_command !== undefined) stopWithParent(() => shutdown("parent exited"));
}

/**
 * Under `npx coral-discovery` npm runs the daemon through `sh -c`, and when npm
 * is stopped it signals only that shell: the daemon would live on as an
 * orphan, still holding its port. So when npm started it, the daemon stops
 * gracefully once its parent is gone (it is then re-parented).
 */
function stopWithParent(stop: () => void): void {
  const timer = setInterval(() => {
    if (process.ppid === PARENT_AT_START) return;
    clearInterval(timer);
    stop();
  }, PARENT_CHECK_MS);
  timer.unref();
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`coral-discovery: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
