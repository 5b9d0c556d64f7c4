// What the binary says about its client commands; kept apart from the
// commands themselves so that `--help` loads no client code.
import { didYouMean } from "../config/suggest.js";

/** The client commands; anything else is the daemon (`serve`, the default) or `keygen`. */
export const CLIENT_COMMANDS: ReadonlySet<string> = new Set(["lookup", "register", "agent", "token", "health", "wait", "rendezvous"]);

/** Every first word the binary knows: the daemon's own commands, then the client commands. */
export const COMMANDS: readonly string[] = ["serve", "keygen", "wg-key", "help", "version", ...CLIENT_COMMANDS];

/** The message for a first word that is no command, with the closest command when it looks like a typo. */
export function unknownCommand(word: string): string {
  return `unknown command ${JSON.stringify(word)}${didYouMean(word, COMMANDS) || "; run coral-discovery help for the commands"}`;
}

/** Where client commands look for the service without `--url` or `CORAL_DISCOVERY_URL`. */
export const DEFAULT_URL = "http://127.0.0.1:8080";

export const CLIENT_USAGE = `Client commands (talk to a running service):
  coral-discovery lookup <mesh-id>
  coral-discovery register --mesh-id <id> --pubkey <key> --endpoint <host:port> [--endpoint ...]
                           [--metadata k=v ...] [--interval 60s] [--once]
  coral-discovery agent lookup <agent-id> --mesh-id <id>
  coral-discovery token --agent-id <id> --colony-id <id> [--reef-id <id>] [--intent <text>]
  coral-discovery health
  coral-discovery rendezvous poll <mesh-id> [--wait <seconds>]   a mesh's bootstrap rendezvous records (base64)
  coral-discovery wait [--timeout 30s] [--ready-file <path>] [--pid <daemon pid>]   prints the URL once healthy
  coral-discovery lookup <mesh-id> --wait 2m   retries until the colony registers (status line on a terminal)

Common options: --url <url> (default ${DEFAULT_URL}, env CORAL_DISCOVERY_URL), --json (machine-readable output),
--timeout <duration> (per request, default 10s; for wait: how long to wait, default 30s).
Exit codes: 0 ok, 1 other failure, 2 invalid input, 3 not found, 4 unreachable, 5 refused by the service.`;

