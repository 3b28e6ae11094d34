/**
 * The docs a newcomer reads are checked against the repository: the source map in docs/design.md
 * names every file of src/ and nothing else, every relative link resolves, and nothing points to
 * files outside the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RESTART_ONLY } from '../../src/config/schema.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : [],
  );
}

const docs = [join(ROOT, 'README.md'), ...files(join(ROOT, 'docs'), '.md')];

describe('docs', () => {
  it('the source map in docs/design.md names every file of src/ and no other', () => {
    const design = readFileSync(join(ROOT, 'docs/design.md'), 'utf8');
    const section = design.slice(design.indexOf('### Source map'));
    const block = section.slice(
      section.indexOf('```') + 3,
      section.indexOf('```', section.indexOf('```') + 3),
    );
    const mapped = block
      .split('\n')
      .map((line) => line.split(/\s+/)[0]!)
      .filter((name) => name.endsWith('.ts'))
      .sort();
    const actual = files(join(ROOT, 'src'), '.ts')
      .map((f) => relative(join(ROOT, 'src'), f))
      .sort();
    expect(mapped).toEqual(actual);
  });

  it('every relative link in README.md and docs/ resolves to a file of the repository', () => {
    for (const doc of docs) {
      const text = readFileSync(doc, 'utf8');
      for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        expect(existsSync(resolve(dirname(doc), target)), `${relative(ROOT, doc)} -> ${target}`).toBe(true);
      }
    }
  });

  it('README, docs, src and test point to no file outside the repository', () => {
    const scanned = [...docs, ...files(join(ROOT, 'src'), '.ts'), ...files(join(ROOT, 'test'), '.ts')];
    for (const file of scanned) {
      const text = readFileSync(file, 'utf8');
      expect(/\.\.\/shared\/|\bshared\/(design|style|libraries)\.md/.test(text), relative(ROOT, file)).toBe(
        false,
      );
    }
  });

  it('the README stays a front page', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(300);
  });

  it("the README's reload column says what the schema marks restart-only", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const rows = readme.split('\n').filter((l) => /^\| `/.test(l));
    expect(rows.length).toBeGreaterThan(30);
    const kindOf = (key: string) =>
      Object.entries(RESTART_ONLY).find(([path]) => key === path || key.startsWith(`${path}.`))?.[1];
    const seen = new Set<string>();
    for (const row of rows) {
      const cells = row.split(' | ');
      // `a.b` / `c`: a name without a dot is a sibling of the full name before it.
      const keys: string[] = [];
      let parent = '';
      for (const [, token] of cells[0]!.matchAll(/`([^`]+)`/g)) {
        if (token!.includes('.') || keys.length === 0) {
          keys.push(token!);
          parent = token!.includes('.') ? token!.slice(0, token!.lastIndexOf('.')) : '';
        } else keys.push(parent ? `${parent}.${token}` : token!);
      }
      const kinds = new Set(keys.map(kindOf));
      const expected = kinds.has('presence')
        ? 'yes; on/off: restart'
        : kinds.has('value')
          ? 'restart'
          : 'yes';
      expect(
        kinds.size === 1 || kinds.has('presence'),
        `${keys.join(', ')} mixes reloadable and restart-only`,
      ).toBe(true);
      expect(cells.at(-1)!.replace(/ \|$/, ''), keys.join(', ')).toBe(expected);
      for (const key of keys) {
        const marked = Object.keys(RESTART_ONLY).find((p) => key === p || key.startsWith(`${p}.`));
        if (marked !== undefined) seen.add(marked);
      }
    }
    // Every marked key has its row.
    expect([...seen].sort()).toEqual(Object.keys(RESTART_ONLY).sort());
  });
});
