// Liveness and readiness for orchestrators: `/livez` answers 200 while the
// process serves at all; `/readyz` answers 200 while every readiness check
// passes and 503 (with the first reason) otherwise, e.g. while draining
// after SIGTERM, so load balancers stop sending new work before the
// listener closes.
import type { FastifyInstance } from "fastify";

/**
 * Something the server depends on: `true` while it is fine; `false` or a
 * reason (`"draining"`, `"state store unreachable"`) while the server should
 * get no new traffic.
 */
export interface ReadinessCheck {
  ready(): boolean | string;
}

/** Whether the server is ready: `true`, or why not. */
export type Readiness = () => true | string;

/** Combines checks: the first one not ready gives the reason. */
export function readinessOf(checks: readonly ReadinessCheck[]): Readiness {
  return () => {
    for (const check of checks) {
      const state = check.ready();
      if (state !== true) return state === false ? "not ready" : state;
    }
    return true;
  };
}

/** The readiness check of a graceful shutdown: ready until `start()`. */
export interface Drain extends ReadinessCheck {
  /** From now on not ready, reason `draining`. Idempotent. */
  start(): void;
  readonly draining: boolean;
}

export function createDrain(): Drain {
  let draining = false;
  return {
    ready: () => (draining ? "draining" : true),
    start() {
      draining = true;
    },
    get draining() {
      return draining;
    },
  };
}

const json = (body: object) => Buffer.from(JSON.stringify(body));

/** `GET /livez` and `GET /readyz` (JSON bodies, never cached). */
export function registerProbes(app: FastifyInstance, readiness: Readiness): void {
  app.get("/livez", async (_req, reply) => {
    void reply.header("content-type", "application/json").header("cache-control", "no-store");
    return json({ status: "alive" });
  });
  app.get("/readyz", async (_req, reply) => {
    const state = readiness();
    void reply.header("content-type", "application/json").header("cache-control", "no-store");
    if (state === true) return json({ status: "ready" });
    void reply.code(503);
    return json({ status: "unavailable", reason: state });
  });
}
