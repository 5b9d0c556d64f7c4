import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { clientIpKey } from "./context.js";
import type { DiscoveryHandlers } from "./discovery-service.js";

type AnyHandler = (req: unknown, clientIp: string | undefined) => unknown;

/** Serves the handlers through connect-es: the caller's IP comes from the context values. */
export function toServiceImpl(handlers: DiscoveryHandlers): ServiceImpl<typeof DiscoveryService> {
  const impl: Record<string, (req: unknown, ctx: HandlerContext) => unknown> = {};
  for (const [name, handler] of Object.entries(handlers) as [string, AnyHandler][]) {
    impl[name] = (req, ctx) => handler(req, ctx.values.get(clientIpKey));
  }
  // The mapped type above cannot be expressed to the compiler; the method names are the same.
  return impl as unknown as ServiceImpl<typeof DiscoveryService>;
}
