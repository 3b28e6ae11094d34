/**
 * Reading and removing the affinity cookie in a request's `Cookie` header. Hand-written rather than
 * `cookie.parse` because the rules need every duplicate in order (rule 5: the first one that names an
 * available node wins) and the header sent upstream must keep every other cookie byte for byte.
 */

/** Every value of cookie `name` in `header`, in order; surrounding quotes removed. */
export function readCookieValues(header: string | undefined, name: string): string[] {
  if (header === undefined || !header.includes(name)) return [];
  const values: string[] = [];
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name) {
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      values.push(value);
    }
    start = end + 1;
  }
  return values;
}

/**
 * `header` without any `name=...` pair (rule 7), other pairs untouched. Returns undefined when nothing
 * is left, so the upstream request carries no empty Cookie header.
 */
export function removeCookie(header: string, name: string): string | undefined {
  if (!header.includes(name)) return header;
  const kept: string[] = [];
  let removed = false;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      removed = true;
      continue;
    }
    if (part.trim() !== '') kept.push(part.trim());
  }
  if (!removed) return header;
  return kept.length === 0 ? undefined : kept.join('; ');
}
