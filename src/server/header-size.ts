/**
 * A header list's size as HTTP/2 counts it (RFC 9113 6.5.2): name and value
 * octets plus 32 per field. Node decodes header fields as latin1 on both
 * protocols, so a string's length is its octet count.
 */
export function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (const field of rawHeaders) size += field.length;
  return size + (rawHeaders.length / 2) * 32;
}
