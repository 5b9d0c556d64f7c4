// The client side of the binary: `coral-discovery lookup|register|agent lookup|token|health|wait|rendezvous poll`.
import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  CreateBootstrapTokenResponseSchema,
    LookupAgentResponseSchema,
  LookupColonyResponseSchema,
  PollBootstrapRendezvousResponseSchema,
  type LookupColonyResponse,
  NatHint,
  RegisterColonyResponseSchema,
  type Endpoint,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createDiscoveryClient, type DiscoveryClient } from "../client/index.js";
import { MAX_TIMER_MS } from "../client/validate.js";
import { didYouMean } from "../config/suggest.js";
import { realTimers, sleep, type Timers } from "../timers.js";
import { readWireGuardPrivateKey, x25519PrivateKey } from "../tokens/x25519.js";
import { parseDuration } from "./duration.js";
import { runAdminCommand } from "./admin-commands.js";
import { DEFAULT_URL, CLIENT_USAGE, unknownCommand } from "./client-usage.js";
import { fetchHealth } from "./health-check.js";
import { EXIT, describe, exitCodeFor, reportFailure, UsageError } from "./exit-codes.js";
import { isRunning, readReadyFile } from "./ready-file.js";

/** What a command may touch: output, environment, a stop signal (SIGINT/SIGTERM), the clock and timers. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted when the user interrupts; `register` stops its heartbeat then. */
  readonly signal: AbortSignal;
  /** Unix ms. Default Date.now. */
  readonly now?: () => number;
  /** Waits between attempts (`wait`) and heartbeats (`register`). Default Node's timers. */
  readonly timers?: Timers;
  /** Whether stderr is a terminal: `lookup --wait` then keeps a one-line status there. Default false (silent). */
  readonly statusLine?: boolean;
}

/** One run of a command: its io, and the URL it talks to once known (for the hint on connection errors). */
interface Run extends CliIo {
  target?: { url: string; from: string };
}

const COMMON = {
  url: { type: "string" },
  json: { type: "boolean" },
  timeout: { type: "string" },
} as const satisfies ParseArgsConfig["options"];

/** Runs one client command; resolves with the process exit code. Never throws for expected failures. */
export async function runClientCommand(argv: readonly string[], cliIo: CliIo): Promise<number> {
  const [command = "", ...rest] = argv;
  const io: Run = { ...cliIo };
  try {
    switch (command) {
      case "lookup":
        return await lookup(rest, io);
      case "register":
        return await register(rest, io);
      case "agent":
        if (rest[0] !== "lookup") throw new UsageError(`unknown agent command ${JSON.stringify(rest[0] ?? "")}; use: agent lookup <agent-id> --mesh-id <id>`);
        return await agentLookup(rest.slice(1), io);
      case "token":
        return await token(rest, io);
      case "health":
        return await health(rest, io);
      case "wait":
        return await wait(rest, io);
      case "admin":
        return await runAdminCommand(rest, io);
      case "rendezvous":
        if (rest[0] !== "poll") throw new UsageError(`unknown rendezvous command ${JSON.stringify(rest[0] ?? "")}; use: rendezvous poll <mesh-id> [--wait <seconds>]`);
        return await rendezvousPoll(rest.slice(1), io);
      default:
        throw new UsageError(unknownCommand(command));
    }
  } catch (error) {
    return reportFailure(error, { stderr: (text) => io.stderr(text), usage: CLIENT_USAGE, target: io.target });
  }
}


interface Common {
  client: DiscoveryClient;
  url: string;
  json: boolean;
  timeoutMs: number | undefined;
}

function parse<O extends NonNullable<ParseArgsConfig["options"]>>(argv: readonly string[], options: O, io: Run) {
  const all = { ...COMMON, ...options };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: all, allowPositionals: true, strict: true });
  } catch (error) {
    const unknown = /^Unknown option '([^']+)'/.exec((error as Error).message)?.[1];
    if ((error as { code?: unknown }).code !== "ERR_PARSE_ARGS_UNKNOWN_OPTION" || unknown === undefined) throw error;
    throw new UsageError(`unknown option ${unknown}${didYouMean(unknown, Object.keys(all).map((name) => `--${name}`))}`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const url = (values.url as string | undefined) ?? io.env.CORAL_DISCOVERY_URL ?? DEFAULT_URL;
  const from = values.url !== undefined ? "--url" : io.env.CORAL_DISCOVERY_URL !== undefined ? "CORAL_DISCOVERY_URL" : "the default";
  io.target = { url, from };
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    timeoutMs = parseDuration(values.timeout as string);
    if (timeoutMs === undefined || timeoutMs <= 0) throw new UsageError(`--timeout ${JSON.stringify(values.timeout)} is not a duration such as 500ms, 10s or 2m`);
    if (timeoutMs > MAX_TIMER_MS) throw new UsageError(`--timeout ${JSON.stringify(values.timeout)} is too long: at most 24 days (${MAX_TIMER_MS} ms)`);
  }
  let client: DiscoveryClient;
  try {
    client = createDiscoveryClient({ baseUrl: url, timeoutMs: timeoutMs ?? 10_000, now: io.now, timers: io.timers });
  } catch (error) {
    throw new UsageError(`--url: ${(error as Error).message}`);
  }
  const common: Common = { client, url, json: values.json === true, timeoutMs };
  return { values, positionals: parsed.positionals, common };
}

function requireValue(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") throw new UsageError(`${name} is required`);
  return value;
}

function printJson<D extends DescMessage>(io: CliIo, schema: D, message: MessageShape<D>): void {
  io.stdout(`${JSON.stringify(toJson(schema, message))}\n`);
}

async function lookup(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals, common } = parse(argv, { wait: { type: "string" } }, io);
  const meshId = requireValue(positionals[0], "a mesh id (coral-discovery lookup <mesh-id>)");
  let colony: LookupColonyResponse;
  if (values.wait === undefined) {
    colony = await common.client.lookupColony({ meshId }); // one attempt: a missing mesh fails at once
  } else {
    const waitMs = parseDuration(values.wait as string);
    if (waitMs === undefined || waitMs <= 0 || waitMs > MAX_TIMER_MS) {
      throw new UsageError(`--wait ${JSON.stringify(values.wait)} must be a duration such as 30s or 2m, at most 24 days`);
    }
    colony = await waitForColony(meshId, waitMs, common, io);
  }
  if (common.json) {
    printJson(io, LookupColonyResponseSchema, colony);
    return EXIT.ok;
  }
  const rows: [string, string][] = [
    ["pubkey", colony.pubkey],
    ["endpoints", colony.endpoints.join(", ")],
    ["observed", observed(colony.observedEndpoints, colony.nat)],
    ["last seen", ago(colony.lastSeen, io)],
  ];
  if (colony.meshIpv4 !== "") rows.push(["mesh ipv4", colony.meshIpv4]);
  if (colony.meshIpv6 !== "") rows.push(["mesh ipv6", colony.meshIpv6]);
  if (colony.connectPort !== 0) rows.push(["connect port", String(colony.connectPort)]);
  if (colony.publicEndpoint?.url) rows.push(["public url", colony.publicEndpoint.url]);
  const metadata = Object.entries(colony.metadata).map(([k, v]) => `${k}=${v}`);
  if (metadata.length > 0) rows.push(["metadata", metadata.join(", ")]);
  if (colony.relays.length > 0) rows.push(["relays", colony.relays.map((r) => r.relayId).join(", ")]);
  io.stdout(table(`colony ${colony.meshId}`, rows));
  return EXIT.ok;
}

/**
 * The cached lookup's retries (not_found, unavailable, ...), for up to
 * `waitMs`, polling at least every 5 s. On a terminal a one-line status says
 * what it waits for; otherwise it is silent until it succeeds or gives up.
 */
async function waitForColony(meshId: string, waitMs: number, common: Common, io: CliIo): Promise<LookupColonyResponse> {
  const now = io.now ?? Date.now;
  const endMs = now() + waitMs;
  const status = io.statusLine === true ? (text: string) => io.stderr(`\r\x1b[2K${text}`) : undefined;
  try {
    return await common.client.findColony(meshId, {
      cacheTtlMs: 0,
      retry: { deadlineMs: waitMs, maxDelayMs: 5_000 },
      signal: io.signal,
      onRetry: ({ attempt, delayMs, error }) =>
        status?.(
          `waiting for colony ${meshId} at ${common.url}: ${describe(error)}; ` +
            `attempt ${attempt + 1} in ${Math.ceil(delayMs / 1000)}s, ${Math.max(0, Math.ceil((endMs - now()) / 1000))}s left`,
        ),
    });
  } finally {
    status?.("");
  }
}

/** One PollBootstrapRendezvous (for debugging a bootstrap): the records as stored, ciphertext in base64. */
async function rendezvousPoll(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals, common } = parse(argv, { wait: { type: "string" } }, io);
  const meshId = requireValue(positionals[0], "a mesh id (coral-discovery rendezvous poll <mesh-id>)");
  let waitSeconds = 0;
  if (values.wait !== undefined) {
    const waitMs = parseDuration(values.wait as string);
    if (waitMs === undefined || waitMs > 25_000) throw new UsageError(`--wait ${JSON.stringify(values.wait)} must be 0-25 seconds (e.g. 25 or 10s)`);
    waitSeconds = Math.ceil(waitMs / 1000);
  }
  // The client's deadline (--timeout, default 10 s) is extended by the wait.
  const res = await common.client.pollBootstrapRendezvous({ meshId, waitSeconds }, { signal: io.signal });
  if (common.json) {
    printJson(io, PollBootstrapRendezvousResponseSchema, res);
    return EXIT.ok;
  }
  if (res.records.length === 0) {
    io.stdout(`no rendezvous records on mesh ${meshId}${waitSeconds > 0 ? ` (waited ${waitSeconds}s)` : ""}\n`);
    return EXIT.ok;
  }
  for (const record of res.records) {
    io.stdout(
      table(`record ${record.recordId}`, [
        ["published", ago(record.publishedAt, io)],
        ["gcm nonce", Buffer.from(record.gcmNonce).toString("base64")],
        ["ciphertext", `${Buffer.from(record.ciphertext).toString("base64")} (${record.ciphertext.length} bytes)`],
      ]),
    );
  }
  return EXIT.ok;
}

async function agentLookup(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals, common } = parse(argv, { "mesh-id": { type: "string" } }, io);
  const agentId = requireValue(positionals[0], "an agent id (coral-discovery agent lookup <agent-id> --mesh-id <id>)");
  const meshId = requireValue(values["mesh-id"], "--mesh-id");
  const agent = await common.client.lookupAgent({ agentId, meshId });
  if (common.json) {
    printJson(io, LookupAgentResponseSchema, agent);
    return EXIT.ok;
  }
  const rows: [string, string][] = [
    ["mesh", agent.meshId],
    ["pubkey", agent.pubkey],
    ["endpoints", agent.endpoints.join(", ") || "-"],
    ["observed", observed(agent.observedEndpoints, agent.nat)],
    ["last seen", ago(agent.lastSeen, io)],
  ];
  io.stdout(table(`agent ${agent.agentId}`, rows));
  return EXIT.ok;
}

async function token(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, common } = parse(
    argv,
    { "agent-id": { type: "string" }, "colony-id": { type: "string" }, "reef-id": { type: "string" }, intent: { type: "string" } },
    io,
  );
  const res = await common.client.createBootstrapToken({
    agentId: requireValue(values["agent-id"], "--agent-id"),
    colonyId: requireValue(values["colony-id"], "--colony-id"),
    reefId: (values["reef-id"] as string | undefined) ?? "",
    intent: (values.intent as string | undefined) ?? "",
  });
  if (common.json) printJson(io, CreateBootstrapTokenResponseSchema, res);
  else io.stdout(`${res.jwt}\n`); // the token alone, for $(coral-discovery token ...)
  return EXIT.ok;
}

async function health(argv: readonly string[], io: Run): Promise<number> {
  const { common } = parse(argv, {}, io);
  const res = await fetchHealth(common.url, { timeoutMs: common.timeoutMs ?? 10_000, signal: io.signal });
  // --json prints the daemon's GET /health document as it is, the same shape load balancers see.
  if (common.json) io.stdout(`${JSON.stringify(res)}\n`);
  else {
    io.stdout(
      `${res.status}: coral-discovery ${res.version} at ${common.url}, up ${res.uptime_seconds}s, ${res.colonies} colonies, ${res.agents} agents\n`,
    );
  }
  return res.status === "ok" ? EXIT.ok : EXIT.failed;
}

/**
 * How long `wait --ready-file` accepts a file naming a process that no longer
 * runs (left by a daemon killed without its graceful exit) before it gives up:
 * long enough for a daemon started just before to replace it.
 */
const STALE_READY_FILE_MS = 10_000;

async function wait(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, common } = parse(argv, { "ready-file": { type: "string" }, pid: { type: "string" } }, io);
  // --pid: the daemon started just before (`$!`); once it is gone there is nothing to wait for.
  const daemonPid = values.pid === undefined ? undefined : Number(values.pid);
  if (daemonPid !== undefined && !(Number.isSafeInteger(daemonPid) && daemonPid > 0)) {
    throw new UsageError(`--pid ${JSON.stringify(values.pid)} must be a process id, such as $! after starting the daemon with &`);
  }
  const now = io.now ?? Date.now;
  const totalMs = values.timeout === undefined ? 30_000 : (common.timeoutMs as number);
  const deadline = now() + totalMs;
  const readyFile = values["ready-file"] as string | undefined;
  const clients = new Map([[common.url, common.client]]);
  // Without a ready file, the URL of --url; with one, the URL the file names, read again before every attempt.
  let url: string | undefined = readyFile === undefined ? common.url : undefined;
  let last = readyFile === undefined ? "no answer yet" : `${readyFile} does not exist yet`;
  let staleSinceMs: number | undefined;
  for (;;) {
    const left = deadline - now();
    if (left <= 0 || io.signal.aborted) break;
    if (daemonPid !== undefined && !isRunning(daemonPid)) {
      io.stderr(`coral-discovery: the daemon (pid ${daemonPid}) exited before it was healthy (${last}); see its output for why\n`);
      return EXIT.unreachable;
    }
    try {
      let target = url;
      if (readyFile !== undefined) {
        target = undefined;
        const ready = await readReadyFile(readyFile);
        if (ready === undefined) {
          last = `${readyFile} does not exist yet`;
        } else if (!isRunning(ready.pid)) {
          staleSinceMs ??= now();
          last = `${readyFile} names pid ${ready.pid}, which is not running`;
          if (now() - staleSinceMs >= STALE_READY_FILE_MS) {
            io.stderr(
              `coral-discovery: ${last}, and no daemon replaced it within ${STALE_READY_FILE_MS / 1000}s: ` +
                `it was left by a daemon that did not exit cleanly, and the one you started has not listened (see its output)\n`,
            );
            return EXIT.unreachable;
          }
        } else {
          staleSinceMs = undefined;
          target = url = ready.url;
        }
      }
      if (target !== undefined) {
        let client = clients.get(target);
        if (client === undefined) {
          client = createDiscoveryClient({ baseUrl: target, now: io.now, timers: io.timers });
          clients.set(target, client);
        }
        const res = await client.health({}, { timeoutMs: Math.max(1, Math.min(2_000, left)), signal: io.signal });
        if (res.status === "ok") {
          // The URL alone, so that scripts can do URL=$(coral-discovery wait ...).
          if (common.json) io.stdout(`${JSON.stringify({ url: target, status: res.status, version: res.version })}\n`);
          else io.stdout(`${target}\n`);
          return EXIT.ok;
        }
        last = `status ${JSON.stringify(res.status)}`;
      }
    } catch (error) {
      last = error instanceof ConnectError ? describe(error) : String(error);
    }
    await sleep(Math.min(200, Math.max(0, deadline - now())), io.timers ?? realTimers, io.signal).catch(() => undefined);
  }
  const what = url ?? `the daemon of ${readyFile as string}`;
  io.stderr(`coral-discovery: ${what} was not healthy within ${totalMs / 1000}s (${last})\n`);
  return EXIT.unreachable;
}

async function register(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, common } = parse(
    argv,
    {
      "mesh-id": { type: "string" },
      pubkey: { type: "string" },
      "private-key-file": { type: "string" },
      endpoint: { type: "string", multiple: true },
      metadata: { type: "string", multiple: true },
      interval: { type: "string" },
      once: { type: "boolean" },
    },
    io,
  );
  const meshId = requireValue(values["mesh-id"], "--mesh-id");
  const proving = readPrivateKeyFile(values["private-key-file"] as string | undefined, values.pubkey as string | undefined);
  const pubkey = proving?.pubkey ?? requireValue(values.pubkey, "--pubkey (or --private-key-file)");
  const endpoints = (values.endpoint as string[] | undefined) ?? [];
  if (endpoints.length === 0) throw new UsageError("at least one --endpoint <host:port> is required");
  const metadata: Record<string, string> = {};
  for (const pair of (values.metadata as string[] | undefined) ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--metadata ${JSON.stringify(pair)} must be key=value`);
    metadata[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const intervalMs = values.interval === undefined ? 60_000 : parseDuration(values.interval as string);
  if (intervalMs === undefined || intervalMs < 1000 || intervalMs > MAX_TIMER_MS) {
    throw new UsageError(`--interval ${JSON.stringify(values.interval)} must be a duration from 1s to 24 days, such as 60s`);
  }

  const request = { meshId, pubkey, endpoints, metadata };
  // With a private key, every registration carries a proof (the service key is read from the service's document).
  const client =
    proving === undefined
      ? common.client
      : createDiscoveryClient({ baseUrl: common.url, timeoutMs: common.timeoutMs ?? 10_000, now: io.now, timers: io.timers, wireguardPrivateKey: proving.privateKey });
  if (values.once === true) {
    const res = await client.registerColony(request);
    if (common.json) printJson(io, RegisterColonyResponseSchema, res);
    else io.stdout(`registered ${meshId}: lease of ${res.ttl}s until ${iso(res.expiresAt)}\n`);
    return EXIT.ok;
  }

  const registration = client.startColonyRegistration({ ...request, intervalMs });
  // The exit code says how it ended: the last attempt's failure, or 0 when the last attempt registered.
  let lastFailure: ConnectError | undefined;
  registration.on("registered", (res) => {
    lastFailure = undefined;
    if (common.json) printJson(io, RegisterColonyResponseSchema, res);
    else io.stdout(`registered ${meshId}: lease of ${res.ttl}s until ${iso(res.expiresAt)}; next heartbeat in ${intervalMs / 1000}s\n`);
  });
  registration.on("retry", ({ attempt, delayMs, error }) => {
    lastFailure = error;
    io.stderr(`coral-discovery: attempt ${attempt} failed (${describe(error)}); retrying in ${delayMs / 1000}s\n`);
  });
  registration.on("error", (error) => {
    lastFailure = error;
    io.stderr(`coral-discovery: registration round failed: ${describe(error)}\n`);
  });
  await new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    else io.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await registration.stop();
  const { rounds } = registration.status();
  if (!common.json) io.stdout(`stopped after ${rounds} heartbeat round(s); the lease runs out by itself\n`);
  return lastFailure === undefined ? EXIT.ok : exitCodeFor(lastFailure);
}

/**
 * `--private-key-file`: a WireGuard private key (as `wg genkey` or
 * `coral-discovery wg-key` write it) and its public key, which `--pubkey`
 * may repeat but not contradict.
 */
function readPrivateKeyFile(path: string | undefined, pubkey: string | undefined): { privateKey: string; pubkey: string } | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`--private-key-file ${path}: cannot read it (${(error as Error).message})`);
  }
  const read = readWireGuardPrivateKey(text);
  if (!read.ok) throw new UsageError(`--private-key-file ${path} ${read.problem}`);
  const own = Buffer.from(x25519PrivateKey(read.bytes).publicKey).toString("base64");
  if (pubkey !== undefined && pubkey !== own) {
    throw new UsageError(`--pubkey ${pubkey} is not the public key of --private-key-file ${path} (${own}); leave --pubkey out to register that key`);
  }
  return { privateKey: text, pubkey: own };
}

function observed(endpoints: readonly Endpoint[], nat: NatHint): string {
  if (endpoints.length === 0) return "-";
  return `${endpoints.map((e) => `${e.ip}:${e.port}/${e.protocol || "udp"}`).join(", ")} (${NatHint[nat]})`;
}

function ago(timestamp: Timestamp | undefined, io: CliIo): string {
  if (timestamp === undefined) return "-";
  const date = timestampDate(timestamp);
  const seconds = Math.max(0, Math.round(((io.now ?? Date.now)() - date.getTime()) / 1000));
  return `${date.toISOString()} (${seconds}s ago)`;
}

function iso(timestamp: Timestamp | undefined): string {
  return timestamp === undefined ? "-" : timestampDate(timestamp).toISOString();
}

function table(title: string, rows: readonly [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${title}\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n")}\n`;
}
