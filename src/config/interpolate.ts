/**
 * `${VAR}` and `${VAR:-default}` in YAML string values read the environment, so secrets reach a
 * container through `-e` without being written into the file. Substitution happens after parsing,
 * so a value can never change the YAML structure.
 */

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Returns a copy of `tree` with every reference replaced; unset variables without a default are problems. */
export function interpolateEnv(
  tree: unknown,
  env: NodeJS.ProcessEnv,
  problems: string[],
  path: readonly (string | number)[] = [],
): unknown {
  if (typeof tree === 'string') {
    if (!tree.includes('${')) return tree;
    return tree.replace(REFERENCE, (_whole, name: string, fallback: string | undefined) => {
      const value = env[name];
      if (value !== undefined && value !== '') return value;
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return '';
    });
  }
  if (Array.isArray(tree)) return tree.map((item, i) => interpolateEnv(item, env, problems, [...path, i]));
  if (tree !== null && typeof tree === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(tree))
      out[key] = interpolateEnv(value, env, problems, [...path, key]);
    return out;
  }
  return tree;
}

/** `upstreams[1].url` style path used in every config problem line. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}
