import { createContextKey } from "@connectrpc/connect";

/**
 * The caller's IP address as the transport saw it (socket peer, or the
 * forwarded address from a trusted proxy), normalized; undefined when unknown.
 * Set per request by the app (`contextValues`); read by the service.
 */
export const clientIpKey = createContextKey<string | undefined>(undefined, { description: "client IP address" });
