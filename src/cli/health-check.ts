// `GET /health`, the document load balancers and `coral-discovery health`
// read: {"status","version","uptime_seconds","colonies","agents"}.
import { Code, ConnectError } from "@connectrpc/connect";

/** The body of GET /health, as the daemon serves it (src/app.ts). */
export interface HealthDocument {
  readonly status: string;
  readonly version: string;
  readonly uptime_seconds: number;
  readonly colonies: number;
  readonly agents: number;
}

/**
 * Fetches `<baseUrl>/health`. Failures are ConnectErrors, as the RPCs' are:
 * `unavailable` (with the network error as cause) when the service cannot be
 * reached, `deadline_exceeded` after `timeoutMs`, `canceled` when `signal`
 * aborts, `unknown` for an answer that is not the health document.
 */
export async function fetchHealth(
  baseUrl: string,
  options: { timeoutMs: number; signal: AbortSignal; fetch?: typeof fetch },
): Promise<HealthDocument> {
  const fetchImpl = options.fetch ?? fetch;
  const url = `${baseUrl.replace(/\/+$/, "")}/health`;
  const timeout = AbortSignal.timeout(options.timeoutMs);
  let res: Response;
  try {
    res = await fetchImpl(url, { signal: AbortSignal.any([options.signal, timeout]) });
  } catch (error) {
    if (options.signal.aborted) throw new ConnectError("the health check was interrupted", Code.Canceled, undefined, undefined, error);
    if (timeout.aborted) throw new ConnectError(`GET ${url} took longer than ${options.timeoutMs} ms`, Code.DeadlineExceeded, undefined, undefined, error);
    // fetch says "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, ...) is its cause.
    const reason = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
    throw new ConnectError(reason, Code.Unavailable, undefined, undefined, error);
  }
  const text = await res.text();
  let body: Partial<HealthDocument> | undefined;
  try {
    body = JSON.parse(text) as Partial<HealthDocument>;
  } catch {
    body = undefined;
  }
  if (res.status !== 200 || typeof body?.status !== "string") {
    throw new ConnectError(`GET ${url} answered HTTP ${res.status}, not the health document: ${JSON.stringify(text.slice(0, 80))}`, Code.Unknown);
  }
  return body as HealthDocument;
}
