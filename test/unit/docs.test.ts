/**
 * The docs a newcomer reads are checked against the repository: the source map in docs/design.md
 * names every file of src/ and nothing else, every relative link resolves, and nothing points to
 * files outside the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

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
});
