// What the binary says about its client commands; kept apart from the
// commands themselves so that `--help` loads no client code.
import { didYouMean } from "../config/suggest.js";

/** The client commands; anything else is the daemon (`serve`, the default) or `keygen`. */
export const CLIENT_COMMANDS: ReadonlySet<string> = new Set(["lookup", "register", "agent", "token", "health", "wait", "admin", "rendezvous"]);

/** Every first word the binary knows: the daemon's own commands, then the client commands. */
export const COMMANDS: readonly string[] = ["serve", "keygen", "wg-key", "help", "version", ...CLIENT_COMMANDS];

/** The message for a first word that is no command, with the closest command when it looks like a typo. */
export function unknownCommand(word: string): string {
  return `unknown command ${JSON.stringify(word)}${didYouMean(word, COMMANDS) || "; run coral-discovery help for the commands"}`;
}

/** Where client commands look for the service without `--url` or `CORAL_DISCOVERY_URL`. */
export const DEFAULT_URL = "http://127.0.0.1:8080";

/** The admin commands (AdminService; they need the daemon's admin token). */
export const ADMIN_USAGE = `Admin commands (need the daemon's admin token: --admin-token-file <path> or CORAL_DISCOVERY_ADMIN_TOKEN):
  coral-discovery admin list [--prefix <text>]          active colonies, agent counts, when they expire
  coral-discovery admin show <mesh-id>                  a mesh's colony and agents
  coral-discovery admin evict <mesh-id> [--with-agents] removes the colony now (its agents stay unless --with-agents)
  coral-discovery admin evict <mesh-id> --agent <id>    removes one agent now
  coral-discovery admin stats                           counts, registry memory, uptime
Options: --url <url> (env CORAL_DISCOVERY_URL), --json (every field, for scripts), --timeout <duration> (per request).
Unauthenticated (a wrong token) and a daemon without an admin token exit 5.`;

export const CLIENT_USAGE = `Client commands (talk to a running service):
  coral-discovery lookup <mesh-id>
  coral-discovery register --mesh-id <id> --pubkey <key> --endpoint <host:port> [--endpoint ...]
                           [--metadata k=v ...] [--interval 60s] [--once]
                           [--private-key-file <wg key>]   proves every registration (then --pubkey may be left out)
  coral-discovery agent lookup <agent-id> --mesh-id <id>
  coral-discovery token --agent-id <id> --colony-id <id> [--reef-id <id>] [--intent <text>]
  coral-discovery health
  coral-discovery rendezvous poll <mesh-id> [--wait <seconds>]   a mesh's bootstrap rendezvous records (base64)
  coral-discovery wait [--timeout 30s] [--ready-file <path>] [--pid <daemon pid>]   prints the URL once healthy
  coral-discovery lookup <mesh-id> --wait 2m   retries until the colony registers (status line on a terminal)

Common options: --url <url> (default ${DEFAULT_URL}, env CORAL_DISCOVERY_URL), --json (machine-readable output),
--timeout <duration> (per request, default 10s; for wait: how long to wait, default 30s).
Exit codes: 0 ok, 1 other failure, 2 invalid input, 3 not found, 4 unreachable, 5 refused by the service.

${ADMIN_USAGE}`;

