/** Parsing of the human units used in the YAML: durations (`500ms`, `2s`, `1m`) and sizes (`64KiB`). */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds for a duration string, or an error message. `0` alone means "disabled". */
export function parseDuration(value: unknown): number | string {
  if (value === 0 || value === '0') return 0;
  if (typeof value !== 'string') return 'must be a duration with a unit, e.g. 500ms, 2s, 1m';
  const match = DURATION.exec(value.trim());
  if (!match) return `"${value}" is not a duration; use a number and a unit: 500ms, 2s, 1m, 1h`;
  return Math.round(Number(match[1]) * (DURATION_MS[match[2]!] ?? 1));
}

const SIZE = /^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/;
const SIZE_BYTES: Record<string, number> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
};

/** Bytes for a size (`65536`, `64KiB`, `10MB`), or an error message. `0` means "no limit". */
export function parseSize(value: unknown): number | string {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value !== 'string') return 'must be a size, e.g. 65536, 64KiB, 10MiB';
  const match = SIZE.exec(value.trim());
  if (!match) return `"${value}" is not a size; use bytes or a unit: 64KiB, 10MiB, 1GiB`;
  return Number(match[1]) * (SIZE_BYTES[match[2] ?? 'B'] ?? 1);
}
