/**
 * Parses a duration such as `500ms`, `30s`, `2m`, `1h` or a bare number of
 * seconds into milliseconds; undefined when it is not one.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (match === null) return undefined;
  const value = Number(match[1]);
  const unit = match[2] ?? "s";
  const ms = value * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000);
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}
