/** Reading a configuration: YAML text -> env interpolation -> schema -> frozen Config. */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { formatPath, interpolateEnv } from './interpolate.js';
import { type Config, configSchema } from './schema.js';

/** Validates an already-parsed tree; throws ConfigError with one `path: problem` line each. */
export function parseConfig(tree: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  rejectPrototypeKeys(tree, [], problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const interpolated = interpolateEnv(tree ?? {}, env, problems);
  const result = configSchema.safeParse(interpolated);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = formatPath(issue.path);
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          problems.push(`${path === '(root)' ? key : `${path}.${key}`}: unknown key`);
        }
      } else {
        problems.push(`${path}: ${issue.message}`);
      }
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return deepFreeze(result.data);
}

/** Parses YAML text; syntax errors become problems with line and column. */
export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // One YAML mistake often cascades into many parser errors: the first few locate it.
    throw new ConfigError(
      doc.errors.slice(0, 3).map((e) => {
        const pos = e.linePos?.[0];
        return `yaml${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  return parseConfig(doc.toJS(), env);
}

/** Reads and validates a YAML file. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  return parseConfigText(text, env);
}

/**
 * `__proto__` in YAML becomes the prototype of the parsed object, so its keys would be reported
 * as the parent's ("polluted: unknown key"): name the key itself instead.
 */
function rejectPrototypeKeys(value: unknown, path: (string | number)[], problems: string[]): void {
  if (value === null || typeof value !== 'object') return;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) {
    problems.push(`${path.length === 0 ? '' : `${formatPath(path)}.`}__proto__: not allowed`);
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      problems.push(`${path.length === 0 ? key : `${formatPath(path)}.${key}`}: not allowed`);
      continue;
    }
    rejectPrototypeKeys(child, [...path, Array.isArray(value) ? Number(key) : key], problems);
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
