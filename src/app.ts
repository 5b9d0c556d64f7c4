import { randomUUID } from "node:crypto";
import { createContextValues, type HandlerContext } from "@connectrpc/connect";
import fastify, { LogController, type FastifyInstance, type FastifyRequest } from "fastify";
import { DiscoveryService, file_coral_discovery_v1_discovery } from "../gen/coral/discovery/v1/discovery_pb.js";
import { AdminService, file_coral_discovery_admin_v1_admin } from "../gen/coral/discovery/admin/v1/admin_pb.js";
import type { Config } from "./config/index.js";
import { createAddressMatcher, resolveClient } from "./net/address.js";
import { createRegistry, memoryStore } from "./registry/index.js";
import { registryLimits } from "./registry-limits.js";
import { createByteBudget, type ByteBudget } from "./limits/byte-budget.js";
import { createLineBudget } from "./limits/line-budget.js";
import { createDualProtocolServerFactory, type DualProtocolServer } from "./server/dual-protocol.js";
import { registerJwksRoute } from "./server/jwks-route.js";
import { buildDiscoveryDocument, registerDiscoveryDocumentRoute } from "./server/discovery-document.js";
import { createMetrics, registerMetricsRoute } from "./server/metrics.js";
import { readinessOf, registerProbes, type ReadinessCheck } from "./server/probes.js";
import { registerReflection } from "./server/reflection.js";
import { loadTls } from "./server/tls-reload.js";
import { answerUnknownMethod, registerUnaryRoad } from "./server/road/road.js";
import { registerRouterRoutes } from "./server/router-routes.js";
import { clientKey, routerServiceImpl } from "./server/router-service.js";
import type { Step, UnaryHandler } from "./service/call.js";
import { createDiscoveryService, parseRelays, type DiscoveryRegistry, type DiscoveryStore } from "./service/discovery-service.js";
import { discoveryEntrySizes } from "./service/entry-size.js";
import { errorMappingStep } from "./service/errors.js";
import { leaseEventsStep, NO_LEASE_EVENTS, registrationObserver } from "./service/lease-events.js";
import { limitErrorLines, loggingStep } from "./service/logging.js";
import { createRateLimit } from "./service/rate-limit.js";
import { createAdminGuard } from "./service/admin-auth.js";
import { createAdminService } from "./service/admin-service.js";
import { createConfiguredRendezvous } from "./rendezvous-setup.js";
import { openRedis } from "./redis-setup.js";
import { createProofCheck } from "./service/proof.js";
import { openState } from "./state-setup.js";
import { createSweeper } from "./sweeper.js";
import { backgroundTimers, type Timers } from "./timers.js";
import { buildJwksJson, createTokenSigner, deriveServiceKey, generateSigningKey, x25519PrivateKey, type SigningKey } from "./tokens/index.js";
import { VERSION } from "./version.js";

/**
 * Error lines the RPC paths may write: 10 a second, 20 at once; the rest are
 * counted and the count reported by the next line (`suppressed`), so a flood
 * of failures cannot fill a disk or bury the first lines.
 */
const ERROR_LINES = { perSecond: 10, burst: 20 } as const;

/** Entries of each kind a sweep frees per event-loop turn (~2 µs each: a few ms per turn). */
const SWEEP_BUDGET = 2_000;

/** A registry for `config`, empty. */
export function createConfiguredRegistry(config: Config, now: () => number, extraBytes?: () => number): DiscoveryRegistry {
  return createRegistry({
    ...(extraBytes === undefined ? {} : { extraBytes }),
    ttlMs: config.ttlSeconds * 1000,
    relaySessionTtlMs: config.relaySessionTtlSeconds * 1000,
    now,
    limits: registryLimits(config),
    sizeOf: discoveryEntrySizes,
  });
}


export interface AppDeps {
  readonly config: Config;
  /** Clock in Unix ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Timers of the sweeper. Default Node's, unref'd. */
  readonly timers?: Timers;
  /** Random ids for relay sessions and token `jti`s. Default `crypto.randomUUID`. */
  readonly randomId?: () => string;
  /** A registry to serve (tests inspect it). Default: a new empty one. */
  readonly registry?: DiscoveryRegistry;
  /** The lease store to serve (e.g. Redis); takes precedence over `registry`. Closed with the app. */
  readonly store?: DiscoveryStore;
  /**
   * The token signing key; default the configured one, else a fresh one. Unless
   * `config.signingKey` is set, the key is taken to last only as long as this
   * process: the JWKS is then served `no-cache` (clients revalidate by ETag).
   */
  readonly signingKey?: SigningKey;
  /** The buffered-request-bytes budget (tests inspect it). Default: one of --max-buffered-bytes(-per-ip). */
  readonly buffered?: ByteBudget;
  /**
   * Serve DiscoveryService's unary RPCs on the road (src/server/road), the
   * default; false serves them through connect-es's router with the same
   * handlers and steps, the reference the road is compared with.
   */
  readonly unaryRoad?: boolean;
  /** Pino logger options or a logger instance for Fastify; default: level from config, JSON to stdout. */
  readonly logger?: boolean | object;
  /** What `/readyz` (and `/health`'s status) depends on, e.g. main's drain on SIGTERM. Default none: always ready. */
  readonly readiness?: readonly ReadinessCheck[];
}

/**
 * Builds the daemon: DiscoveryService and gRPC reflection (unless
 * `--reflection off`) on every Connect protocol, `/health`, the JWKS, and the
 * sweeper (started now, stopped on close). Does not listen.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const now = deps.now ?? Date.now;
  const isTrustedProxy = createAddressMatcher(config.trustProxy);
  const randomId = deps.randomId ?? randomUUID;
  const startedAtMs = now();
  // The Map registry behind the memory store: none with --redis-url or an injected store.
  // The rendezvous records share the registry's byte budget: the registry counts what they are charged.
  let recordBytes = () => 0;
  const registry =
    deps.store !== undefined || config.redisUrl !== undefined ? undefined : (deps.registry ?? createConfiguredRegistry(config, now, () => recordBytes()));
  // --state-file: the registry is restored and a generated key kept across restarts (throws StateFileError).
  const state =
    config.stateFile === undefined || registry === undefined
      ? undefined
      : await openState(config, config.stateFile, { registry, relays: parseRelays(config.relays), signingKey: deps.signingKey, now });
  // Without a configured key, one lives as long as this process (or as the state file).
  const signingKey = state?.signingKey ?? deps.signingKey ?? config.signingKey ?? generateSigningKey();
  // A Buffer, so Fastify sends it as is: exactly `application/json`, no charset added.
  const jwksBody = Buffer.from(buildJwksJson(signingKey, config.previousKeys));
  // Registration proofs: the configured service key, else one derived from the signing key (stable with it).
  const serviceKey = x25519PrivateKey(config.serviceKey ?? deriveServiceKey(signingKey.seed));

  const app = fastify({
    serverFactory: createDualProtocolServerFactory(
      {
        sniffTimeoutMs: config.headersTimeoutMs,
        headersTimeoutMs: config.headersTimeoutMs,
        requestTimeoutMs: config.requestTimeoutMs,
        keepAliveTimeoutMs: config.idleTimeoutMs,
        http2SessionIdleTimeoutMs: config.idleTimeoutMs,
        maxConnections: config.maxConnections,
        http2MaxConcurrentStreams: config.http2MaxStreams,
        maxHeaderSize: config.maxHeaderBytes,
        http2MaxHeaderListSize: config.maxHeaderBytes,
        maxConnectionsPerAddress: config.maxConnectionsPerIp,
        maxConnectionsPer56: config.maxConnectionsPer56,
        maxConnectionsPer48: config.maxConnectionsPer48,
        bodyTimeoutMs: config.bodyTimeoutMs,
        http2MaxStreamsTotal: config.http2MaxStreamsTotal,
        http2MaxStreamsPerAddress: config.http2MaxStreamsPerIp,
      },
      { isExempt: isTrustedProxy, tls: loadTls(config.tlsCert, config.tlsKey) },
    ),
    bodyLimit: config.maxBodyBytes,
    logger: deps.logger ?? { level: config.logLevel },
    // Per-request access logs cost ~30 µs each and every colony heartbeats once a
    // minute; failures are logged by the RPC interceptor instead.
    logController: new LogController({ disableRequestLogging: true }),
    // Let in-flight requests finish on close, but do not wait for idle keep-alives.
    forceCloseConnections: "idle",
  });

  // --redis-url: leases and rendezvous records in Redis.
  const redis = deps.store === undefined && registry === undefined ? await openRedis(config, app.log) : undefined;
  const store = deps.store ?? redis?.store ?? memoryStore(registry as DiscoveryRegistry);

  const rendezvous = config.rendezvous
    ? createConfiguredRendezvous(config, now, undefined, undefined, redis?.rendezvous ?? (registry && { budget: { used: () => registry.bytes(), max: config.maxRegistryBytes } }))
    : undefined;
  if (rendezvous !== undefined) recordBytes = () => rendezvous.charged();
  const metrics = config.metrics
    ? createMetrics({
        leases: () => store.counts(),
        limits: { colonies: config.maxColonies, agents: config.maxAgents, relaySessions: config.maxRelaySessions, bytes: config.maxRegistryBytes },
        connections: () => (app.server as unknown as DualProtocolServer).connectionStats(),
      })
    : undefined;
  const service = createDiscoveryService({
    store,
    ttlSeconds: config.ttlSeconds,
    stunServers: config.stunServers,
    relays: parseRelays(config.relays),
    version: VERSION,
    startedAtMs,
    now,
    randomId,
    strictPubkeys: config.pubkeyCheck,
    tokens: createTokenSigner({ key: signingKey, ttlSeconds: config.tokenTtlSeconds, now, randomUUID: randomId }),
    rendezvous: rendezvous?.handlers,
    onRegistered: registrationObserver(metrics ?? NO_LEASE_EVENTS, app.log),
    proofs: createProofCheck({ serviceKey, maxSkewSeconds: config.proofMaxSkewSeconds, require: config.requireProof, now }),
  });

  const rateLimit = config.rateLimit
    ? createRateLimit({ register: config.rateRegister, lookup: config.rateLookup, token: config.rateToken }, now, createAddressMatcher(config.rateLimitExempt))
    : undefined;
  const clientOf = (req: FastifyRequest) => resolveClient(req.socket.remoteAddress, (name) => req.headers[name], isTrustedProxy);
  const rpcLog = limitErrorLines(app.log, createLineBudget({ ...ERROR_LINES, now }));
  // Each reflection request message is charged to its client's lookup budget.
  const admitReflection = rateLimit && ((ctx: HandlerContext) => rateLimit.check(ctx.method.name, ctx.values.get(clientKey).ip));
  // The one list of cross-cutting steps every unary RPC passes, outermost first.
  const steps: Step[] = [
    loggingStep(rpcLog),
    leaseEventsStep(metrics ?? NO_LEASE_EVENTS, app.log),
    errorMappingStep,
    ...(rateLimit === undefined ? [] : [rateLimit.step]),
  ];
  const handlers = service as unknown as Record<string, UnaryHandler>;
  // AdminService: its own guard (token, budgets) instead of the public rate limits.
  const adminGuard = createAdminGuard({ token: config.adminToken, now, log: app.log });
  const adminSteps: Step[] = [loggingStep(rpcLog), errorMappingStep, adminGuard.step];
  const adminHandlers = createAdminService({
    store,
    now,
    startedAtMs,
    version: VERSION,
    limits: { colonies: config.maxColonies, agents: config.maxAgents, bytes: config.maxRegistryBytes },
    log: app.log,
    ...(metrics && { events: metrics }),
  }) as unknown as Record<string, UnaryHandler>;
  const unaryRoad = deps.unaryRoad ?? true;
  if (unaryRoad) {
    const buffered = deps.buffered ?? createByteBudget({ max: config.maxBufferedBytes, maxPerKey: config.maxBufferedBytesPerIp });
    await registerUnaryRoad(app, { service: DiscoveryService, handlers, steps, maxBodyBytes: config.maxBodyBytes, client: clientOf, log: rpcLog, buffered, ...(metrics && { observer: metrics }) });
    await registerUnaryRoad(app, { service: AdminService, handlers: adminHandlers, steps: adminSteps, maxBodyBytes: config.maxBodyBytes, client: clientOf, log: rpcLog, buffered });
  }
  // connect-es's router keeps what the road does not do: gRPC server reflection (a stream).
  await registerRouterRoutes(app, {
    routes(router) {
      if (!unaryRoad) router.service(DiscoveryService, routerServiceImpl(DiscoveryService, handlers, steps));
      if (!unaryRoad) router.service(AdminService, routerServiceImpl(AdminService, adminHandlers, adminSteps));
      if (config.reflection) registerReflection(router, [file_coral_discovery_v1_discovery, file_coral_discovery_admin_v1_admin], { admit: admitReflection });
    },
    readMaxBytes: config.maxBodyBytes,
    contextValues: (req) => createContextValues().set(clientKey, clientOf(req)),
    log: rpcLog,
  });

  const readiness = readinessOf([...(deps.readiness ?? []), { ready: () => store.ready() }]);
  registerProbes(app, readiness);
  if (metrics !== undefined) registerMetricsRoute(app, metrics);
  app.get("/health", async (_req, reply) => {
    void reply.header("content-type", "application/json");
    const state = readiness();
    let counts;
    let records;
    try {
      counts = await store.counts();
      records = await rendezvous?.health();
    } catch (error) {
      void reply.code(503);
      const reason = state === true ? (error as Error).message : state;
      return Buffer.from(JSON.stringify({ status: "unavailable", reason, version: VERSION }));
    }
    if (state !== true) void reply.code(503); // the same body: older probes read only the status
    const body = {
      status: "ok",
      version: VERSION,
      uptime_seconds: Math.max(0, Math.floor((now() - startedAtMs) / 1000)),
      colonies: counts.colonies,
      agents: counts.agents,
      ...records,
    };
    return Buffer.from(JSON.stringify(body)); // a Buffer: exactly application/json, like the RPCs
  });

  // main passes the key it generated (it logs the kid): what counts is whether one is configured.
  registerJwksRoute(app, { body: jwksBody, ephemeral: config.signingKey === undefined });
  registerDiscoveryDocumentRoute(app, {
    body: buildDiscoveryDocument({ version: VERSION, servicePublicKey: serviceKey.publicKey, maxSkewSeconds: config.proofMaxSkewSeconds, requireProof: config.requireProof }),
    ephemeral: config.serviceKey === undefined && config.signingKey === undefined,
  });

  // An RPC to a method that does not exist is answered as RPC servers do
  // (unimplemented), before any body parser sees it; any other path is a 404.
  app.addHook("onRequest", async (req, reply) => {
    if (req.is404) answerUnknownMethod(req, reply);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ code: "not_found", message: `no route for ${req.method} ${req.url.slice(0, 200)}` });
  });

  const sweeper = createSweeper({
    store,
    now,
    intervalMs: config.cleanupIntervalMs,
    budget: SWEEP_BUDGET,
    timers: deps.timers ?? backgroundTimers,
    log: app.log,
    onInterval: () => {
      rateLimit?.prune(now());
      adminGuard.prune(now());
      // A store out of reach: nothing swept this time (the lease sweep logs the outage).
      rendezvous?.sweep(now()).catch(() => {});
    },
    ...(metrics && { onSwept: (removed, _turns, durationMs) => metrics.swept(removed, durationMs) }),
  });
  app.addHook("onClose", async () => {
    sweeper.stop();
    await store.close();
  });
  state?.attach(app, deps.timers ?? backgroundTimers);
  // Waiting polls answer at once (with what there is) so that closing never waits up to 25 s for them.
  app.addHook("preClose", async () => void rendezvous?.waiters.releaseAll());

  return app;
}
