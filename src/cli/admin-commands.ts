// `coral-discovery admin list|show|evict|stats`: the operator's client of
// AdminService. The token comes from --admin-token-file or
// CORAL_DISCOVERY_ADMIN_TOKEN and travels as `Authorization: Bearer`.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import {
  AdminService,
  EvictAgentResponseSchema,
  EvictColonyResponseSchema,
  GetMeshResponseSchema,
  GetStatsResponseSchema,
  ColonySummarySchema,
  type AgentSummary,
  type ColonySummary,
} from "../../gen/coral/discovery/admin/v1/admin_pb.js";
import type { Endpoint } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createDiscoveryTransport } from "../client/transport.js";
import { MAX_TIMER_MS } from "../client/validate.js";
import { didYouMean } from "../config/suggest.js";
import { ADMIN_USAGE, DEFAULT_URL } from "./client-usage.js";
import { parseDuration } from "./duration.js";
import { EXIT, reportFailure, UsageError } from "./exit-codes.js";

/** What an admin command may touch. */
export interface AdminIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signal: AbortSignal;
  /** Unix ms, for relative times. Default Date.now. */
  readonly now?: () => number;
}

const SUBCOMMANDS = ["list", "show", "evict", "stats"] as const;
/** Colonies asked for per ListColonies page: the server's most. */
const PAGE_SIZE = 1000;

const OPTIONS = {
  url: { type: "string" },
  json: { type: "boolean" },
  timeout: { type: "string" },
  "admin-token-file": { type: "string" },
  prefix: { type: "string" },
  agent: { type: "string" },
  "with-agents": { type: "boolean" },
} as const;

interface Admin {
  client: Client<typeof AdminService>;
  url: string;
  json: boolean;
  values: { prefix?: string; agent?: string; "with-agents"?: boolean };
  positionals: string[];
  callOptions: { timeoutMs: number; signal: AbortSignal; headers: Record<string, string> };
  now: () => number;
}

/** Runs `admin <subcommand> ...`; resolves with the exit code, never throws for expected failures. */
export async function runAdminCommand(argv: readonly string[], io: AdminIo): Promise<number> {
  let url: { url: string; from: string } | undefined;
  try {
    const [sub = "", ...rest] = argv;
    if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
      throw new UsageError(
        sub === "" ? "admin needs a command: list, show, evict or stats" : `unknown admin command ${JSON.stringify(sub)}${didYouMean(sub, SUBCOMMANDS) || "; use list, show, evict or stats"}`,
      );
    }
    const admin = setup(rest, io, (target) => (url = target));
    switch (sub as (typeof SUBCOMMANDS)[number]) {
      case "list":
        return await list(admin, io);
      case "show":
        return await show(admin, io);
      case "evict":
        return await evict(admin, io);
      case "stats":
        return await stats(admin, io);
    }
  } catch (error) {
    return reportFailure(error, { stderr: (text) => io.stderr(text), usage: ADMIN_USAGE, target: url });
  }
}


function setup(argv: readonly string[], io: AdminIo, target: (t: { url: string; from: string }) => void): Admin {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const unknown = /^Unknown option '([^']+)'/.exec((error as Error).message)?.[1];
    if (unknown === undefined) throw error;
    throw new UsageError(`unknown option ${unknown}${didYouMean(unknown, Object.keys(OPTIONS).map((name) => `--${name}`))}`);
  }
  const { values } = parsed;
  const url = values.url ?? io.env.CORAL_DISCOVERY_URL ?? DEFAULT_URL;
  target({ url, from: values.url !== undefined ? "--url" : io.env.CORAL_DISCOVERY_URL !== undefined ? "CORAL_DISCOVERY_URL" : "the default" });
  let timeoutMs = 10_000;
  if (values.timeout !== undefined) {
    const ms = parseDuration(values.timeout);
    if (ms === undefined || ms <= 0 || ms > MAX_TIMER_MS) throw new UsageError(`--timeout ${JSON.stringify(values.timeout)} must be a duration such as 500ms, 10s or 2m, at most 24 days`);
    timeoutMs = ms;
  }
  const token = readToken(values["admin-token-file"], io.env);
  let client: Client<typeof AdminService>;
  try {
    // Connect JSON over HTTP/1.1, like the other client commands.
    client = createClient(AdminService, createDiscoveryTransport({ baseUrl: url }));
  } catch (error) {
    throw new UsageError(`--url: ${(error as Error).message}`);
  }
  return {
    client,
    url,
    json: values.json === true,
    values,
    positionals: parsed.positionals,
    callOptions: { timeoutMs, signal: io.signal, headers: { authorization: `Bearer ${token}` } },
    now: io.now ?? Date.now,
  };
}

/** The admin token: from --admin-token-file (trimmed) or CORAL_DISCOVERY_ADMIN_TOKEN. */
function readToken(file: string | undefined, env: AdminIo["env"]): string {
  let token: string;
  let from: string;
  if (file !== undefined) {
    from = `--admin-token-file ${file}`;
    try {
      token = readFileSync(file, "utf8").trim();
    } catch (error) {
      throw new UsageError(`${from}: cannot read the admin token file (${(error as NodeJS.ErrnoException).code})`);
    }
  } else {
    from = "CORAL_DISCOVERY_ADMIN_TOKEN";
    token = env.CORAL_DISCOVERY_ADMIN_TOKEN?.trim() ?? "";
    if (env.CORAL_DISCOVERY_ADMIN_TOKEN === undefined) {
      throw new UsageError("admin commands need the daemon's admin token: --admin-token-file <path> or CORAL_DISCOVERY_ADMIN_TOKEN");
    }
  }
  if (token === "") throw new UsageError(`${from}: the admin token is empty`);
  return token;
}

async function list(admin: Admin, io: AdminIo): Promise<number> {
  if (admin.positionals.length > 0) throw new UsageError(`admin list takes no mesh id (got ${JSON.stringify(admin.positionals[0])}); filter with --prefix <text>`);
  const colonies: ColonySummary[] = [];
  let pageToken = "";
  do {
    const page = await admin.client.listColonies({ pageSize: PAGE_SIZE, pageToken, meshIdPrefix: admin.values.prefix ?? "" }, admin.callOptions);
    colonies.push(...page.colonies);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  if (admin.json) {
    io.stdout(`${JSON.stringify({ colonies: colonies.map((c) => toJson(ColonySummarySchema, c, JSON_OPTIONS)) })}\n`);
    return EXIT.ok;
  }
  if (colonies.length === 0) {
    io.stdout(admin.values.prefix === undefined ? "no colonies registered\n" : `no colonies whose mesh id starts with ${JSON.stringify(admin.values.prefix)}\n`);
    return EXIT.ok;
  }
  const nowMs = admin.now();
  io.stdout(
    columns(
      ["MESH ID", "PUBKEY", "AGENTS", "ENDPOINTS", "OBSERVED", "LAST SEEN", "EXPIRES"],
      colonies.map((c) => [c.meshId, c.pubkey, String(c.agentCount), c.endpoints.join(",") || "-", endpoint(c.observedEndpoint), ago(c.lastSeen, nowMs), expires(c.expiresAt, nowMs)]),
    ),
  );
  io.stdout(`${colonies.length} ${colonies.length === 1 ? "colony" : "colonies"}\n`);
  return EXIT.ok;
}

function meshIdArgument(admin: Admin, usage: string): string {
  const meshId = admin.positionals[0];
  if (meshId === undefined || meshId === "") throw new UsageError(`a mesh id is required (${usage})`);
  if (admin.positionals.length > 1) throw new UsageError(`one mesh id at a time (${usage})`);
  return meshId;
}

async function show(admin: Admin, io: AdminIo): Promise<number> {
  const meshId = meshIdArgument(admin, "coral-discovery admin show <mesh-id>");
  const mesh = await admin.client.getMesh({ meshId }, admin.callOptions);
  if (admin.json) {
    io.stdout(`${JSON.stringify(toJson(GetMeshResponseSchema, mesh, JSON_OPTIONS))}\n`);
    return EXIT.ok;
  }
  const nowMs = admin.now();
  const colony = mesh.colony;
  if (colony === undefined) io.stdout(`mesh ${meshId}: no colony registered\n`);
  else {
    const rows: [string, string][] = [
      ["pubkey", colony.pubkey],
      ["endpoints", colony.endpoints.join(", ") || "-"],
      ["observed", endpoint(colony.observedEndpoint)],
      ["last seen", ago(colony.lastSeen, nowMs)],
      ["expires", expires(colony.expiresAt, nowMs)],
    ];
    if (colony.meshIpv4 !== "") rows.push(["mesh ipv4", colony.meshIpv4]);
    if (colony.meshIpv6 !== "") rows.push(["mesh ipv6", colony.meshIpv6]);
    if (colony.connectPort !== 0) rows.push(["connect port", String(colony.connectPort)]);
    const metadata = Object.entries(colony.metadata).map(([k, v]) => `${k}=${v}`);
    if (metadata.length > 0) rows.push(["metadata", metadata.join(", ")]);
    const width = Math.max(...rows.map(([k]) => k.length));
    io.stdout(`colony ${colony.meshId}\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n")}\n`);
  }
  if (mesh.agents.length === 0) {
    io.stdout("no agents\n");
    return EXIT.ok;
  }
  io.stdout(`\n${mesh.agents.length} ${mesh.agents.length === 1 ? "agent" : "agents"}\n`);
  io.stdout(
    columns(
      ["AGENT ID", "PUBKEY", "ENDPOINTS", "OBSERVED", "LAST SEEN", "EXPIRES"],
      mesh.agents.map((a) => [a.agentId, a.pubkey, a.endpoints.join(",") || "-", endpoint(a.observedEndpoint), ago(a.lastSeen, nowMs), expires(a.expiresAt, nowMs)]),
    ),
  );
  return EXIT.ok;
}

async function evict(admin: Admin, io: AdminIo): Promise<number> {
  const meshId = meshIdArgument(admin, "coral-discovery admin evict <mesh-id> [--agent <id> | --with-agents]");
  const agentId = admin.values.agent;
  if (agentId !== undefined) {
    if (admin.values["with-agents"] === true) throw new UsageError("--agent evicts one agent; --with-agents evicts the colony and all its agents: give one of them");
    const res = await admin.client.evictAgent({ meshId, agentId }, admin.callOptions);
    if (admin.json) io.stdout(`${JSON.stringify(toJson(EvictAgentResponseSchema, res, JSON_OPTIONS))}\n`);
    else io.stdout(`evicted agent ${agentId} of mesh ${meshId} (pubkey ${(res.agent as AgentSummary).pubkey})\n`);
    return EXIT.ok;
  }
  const includeAgents = admin.values["with-agents"] === true;
  const res = await admin.client.evictColony({ meshId, includeAgents }, admin.callOptions);
  if (admin.json) {
    io.stdout(`${JSON.stringify(toJson(EvictColonyResponseSchema, res, JSON_OPTIONS))}\n`);
    return EXIT.ok;
  }
  const colony = res.colony;
  if (colony !== undefined) io.stdout(`evicted colony ${meshId} (pubkey ${colony.pubkey})\n`);
  else io.stdout(`mesh ${meshId} had no colony registered\n`);
  for (const agent of res.agents) io.stdout(`evicted agent ${agent.agentId} (pubkey ${agent.pubkey})\n`);
  if (!includeAgents && colony !== undefined && colony.agentCount > 0) {
    io.stdout(`its ${colony.agentCount} ${colony.agentCount === 1 ? "agent stays" : "agents stay"} registered; add --with-agents to evict them too\n`);
  }
  return EXIT.ok;
}

async function stats(admin: Admin, io: AdminIo): Promise<number> {
  if (admin.positionals.length > 0) throw new UsageError(`admin stats takes no arguments (got ${JSON.stringify(admin.positionals[0])})`);
  const res = await admin.client.getStats({}, admin.callOptions);
  if (admin.json) {
    io.stdout(`${JSON.stringify(toJson(GetStatsResponseSchema, res, JSON_OPTIONS))}\n`);
    return EXIT.ok;
  }
  const budget = Number(res.registryBytesBudget);
  const used = Number(res.registryBytes);
  const rows: [string, string][] = [
    ["colonies", `${res.colonies} of ${res.maxColonies}`],
    ["agents", `${res.agents} of ${res.maxAgents}`],
    ["relay sessions", String(res.relaySessions)],
    ["registry memory", `${bytes(used)} of ${bytes(budget)} (${((used / budget) * 100).toFixed(1)} %)`],
    ["store", res.store],
    ["uptime", duration(Number(res.uptimeSeconds) * 1000)],
    ["version", res.version],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  io.stdout(`coral-discovery at ${admin.url}\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n")}\n`);
  return EXIT.ok;
}

/** JSON for scripts: every field, zero values included. */
const JSON_OPTIONS = { alwaysEmitImplicit: true } as const;

/** An aligned table: a header row and rows, two spaces between columns, the last column unpadded. */
export function columns(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] as number))).join("  ");
  return `${[header, ...rows].map(line).join("\n")}\n`;
}

/** A duration the way people read it: the two largest units, e.g. 4m12s, 1h03m, 2d05h, 45s. */
export function duration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3_600);
  const m = Math.floor((total % 3_600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  if (d > 0) return `${d}d${two(h)}h`;
  if (h > 0) return `${h}h${two(m)}m`;
  if (m > 0) return `${m}m${two(s)}s`;
  return `${s}s`;
}

/** "12s ago" ("-" without a time). */
export function ago(timestamp: Timestamp | undefined, nowMs: number): string {
  return timestamp === undefined ? "-" : `${duration(nowMs - timestampMs(timestamp))} ago`;
}

/** "in 4m12s", or "expired" when this machine's clock is past it ("-" without a time). */
export function expires(timestamp: Timestamp | undefined, nowMs: number): string {
  if (timestamp === undefined) return "-";
  const left = timestampMs(timestamp) - nowMs;
  return left <= 0 ? "expired" : `in ${duration(left)}`;
}

function endpoint(e: Endpoint | undefined): string {
  return e === undefined ? "-" : `${e.ip}:${e.port}/${e.protocol || "udp"}`;
}

/** A byte count in B, KiB, MiB or GiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}
