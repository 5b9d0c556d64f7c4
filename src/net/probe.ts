// The reachability probe's one network act: a TCP connect that sends nothing
// and is closed at once. Only ever called with a checked target (see
// probe-target.ts).
import { connect } from "node:net";
import type { ProbeTarget } from "./probe-target.js";

/** Connects to `target` within `timeoutMs`; resolves true when the connection opened. Never rejects. */
export type Dialer = (target: ProbeTarget, timeoutMs: number) => Promise<boolean>;

/** The real dialer: node:net, no DNS (IP literals only; a lookup is refused), no data sent. */
export const tcpDialer: Dialer = (target, timeoutMs) =>
  new Promise((resolve) => {
    const socket = connect({
      host: target.ip,
      port: target.port,
      timeout: timeoutMs,
      lookup: (_host, _options, callback) => callback(new Error("the probe resolves no names"), "", 0),
    });
    const finish = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once("connect", () => finish(true));
    for (const failure of ["timeout", "error"]) socket.once(failure, () => finish(false));
  });
