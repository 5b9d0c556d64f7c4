// Strict decoding of key material that may arrive as standard base64 or base64url, padded or not.
// Problems are returned as text (never containing the input, which may be a secret) so callers can
// prefix the field and source they came from.

const STANDARD_ONLY = /[+/]/;
const URL_ONLY = /[-_]/;
const NOT_BASE64 = /[^A-Za-z0-9+/_-]/;

export type DecodeResult = { ok: true; bytes: Uint8Array } | { ok: false; problem: string };

/** Decodes standard base64 or base64url, padded or unpadded; rejects anything non-canonical. */
export function decodeBase64(text: string): DecodeResult {
  if (text.length === 0) {
    return { ok: false, problem: "is empty" };
  }
  if (text.startsWith("-----BEGIN")) {
    return { ok: false, problem: "looks like PEM; give the raw key bytes as base64 or base64url instead" };
  }
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d /* = */) end--;
  const body = text.slice(0, end);
  const padding = text.length - end;
  const bad = NOT_BASE64.exec(body);
  if (bad !== null) {
    return {
      ok: false,
      problem: `is not base64 or base64url: character ${JSON.stringify(bad[0])} at position ${bad.index} (allowed: A-Z a-z 0-9 + / or - _, with optional = padding at the end)`,
    };
  }
  if (STANDARD_ONLY.test(body) && URL_ONLY.test(body)) {
    return { ok: false, problem: "mixes the base64 (+ /) and base64url (- _) alphabets; use one of them" };
  }
  if (body.length % 4 === 1) {
    return { ok: false, problem: `is not base64 or base64url: ${body.length} characters cannot encode whole bytes` };
  }
  if (padding > 0 && (text.length % 4 !== 0 || padding !== (4 - (body.length % 4)) % 4)) {
    return { ok: false, problem: "is not base64 or base64url: wrong number of = padding characters" };
  }
  const buffer = Buffer.from(body, "base64");
  // Node ignores the unused low bits of the last character; insist on the canonical form so that
  // one key has exactly one spelling.
  if (buffer.toString("base64url") !== body.replace(/\+/g, "-").replace(/\//g, "_")) {
    return { ok: false, problem: "is not canonical base64: the last character has non-zero unused bits" };
  }
  return { ok: true, bytes: new Uint8Array(buffer) };
}

/** base64url without padding (RFC 7515 section 2). */
export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Standard base64 with padding, the form `formatSigningKey` writes. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
