/**
 * Reading and removing the affinity cookie in a request's `Cookie` header. Hand-written rather than
 * `cookie.parse` because the rules need every duplicate in order (rule 5: the first one that names an
 * available node wins) and the header sent upstream must keep every other cookie byte for byte.
 */

/** The affinity cookie taken out of a `Cookie` header. */
export interface TakenCookie {
  /** Every value of the cookie, in order; surrounding quotes removed. */
  readonly values: string[];
  /** Every value of the second cookie asked for (the content pin), in order. */
  readonly secondValues: string[];
  /**
   * The header without any `name=...` pair (rule 7): the header itself when it had none, undefined
   * when nothing else is left (so the upstream request carries no empty Cookie header).
   */
  readonly rest: string | undefined;
}

const NONE: string[] = [];

/**
 * Reads and removes cookie `name`, and `second` when given (the content pin, whose name starts
 * with `name`), in one pass over `header`.
 */
export function takeCookie(header: string, name: string, second?: string): TakenCookie {
  if (!header.includes(name)) return { values: NONE, secondValues: NONE, rest: header };
  const values: string[] = [];
  let secondValues = NONE;
  const kept: string[] = [];
  let start = 0;
  while (start <= header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && keyIs(header, start, eq, name)) {
      values.push(unquoted(header.slice(eq + 1, end)));
    } else if (second !== undefined && eq !== -1 && eq < end && keyIs(header, start, eq, second)) {
      if (secondValues === NONE) secondValues = [];
      secondValues.push(unquoted(header.slice(eq + 1, end)));
    } else {
      const part = header.slice(start, end).trim();
      if (part !== '') kept.push(part);
    }
    start = end + 1;
  }
  if (values.length === 0 && secondValues.length === 0) return { values, secondValues, rest: header };
  return { values, secondValues, rest: kept.length === 0 ? undefined : kept.join('; ') };
}

/** A cookie value without surrounding blanks and quotes (RFC 6265 allows a quoted value). */
function unquoted(raw: string): string {
  const value = raw.trim();
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** True when `header[start, eq)` is `name` with optional blanks around it. */
function keyIs(header: string, start: number, eq: number, name: string): boolean {
  let i = start;
  while (i < eq && isBlank(header.charCodeAt(i))) i++;
  if (eq - i < name.length || !header.startsWith(name, i)) return false;
  let j = i + name.length;
  while (j < eq && isBlank(header.charCodeAt(j))) j++;
  return j === eq;
}

function isBlank(code: number): boolean {
  return code === 0x20 || code === 0x09;
}
