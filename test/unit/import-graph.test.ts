/**
 * The shape of the code, checked: no import circles, and every import points down the layers
 * (leaf domains never import the planes; the control plane and the data plane never import each
 * other; only the modes compose them and only the CLI picks a mode).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Layer of each top-level folder or file of src/; an import may only go to a lower or equal layer. */
const LAYERS: Record<string, number> = {
  'errors.ts': 0,
  'clock.ts': 0,
  'version.ts': 0,
  'logger.ts': 0,
  'listen.ts': 0,
  affinity: 1,
  config: 2,
  // The contract between the planes: the data plane's settings and the worker messages.
  contract: 3,
  pool: 3,
  metrics: 4,
  control: 6,
  data: 6,
  demo: 7,
  modes: 7,
  'drain-command.ts': 7,
  'adopted-command.ts': 7,
  'cli.ts': 8,
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** file (relative to src/) -> the src files it imports. */
function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
      relative(SRC, resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'))),
    );
    edges.set(relative(SRC, file), targets);
  }
  return edges;
}

const top = (file: string) => file.split('/')[0]!;

describe('import graph of src/', () => {
  const edges = graph();

  it('reads every file and names a layer for each top-level part', () => {
    expect(edges.size).toBeGreaterThan(40);
    for (const file of edges.keys()) expect(LAYERS[top(file)], file).toBeDefined();
    for (const targets of edges.values()) for (const t of targets) expect(edges.has(t), t).toBe(true);
  });

  it('loads the OpenTelemetry packages only through the lazy import of otlp-sink.ts', () => {
    const users = files(SRC)
      .filter((f) => /from '@opentelemetry\//.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    expect(users).toEqual(['data/tracing/otlp-sink.ts']);
    const staticImporters = files(SRC).filter((f) =>
      /^import[^;]*from '\.\/otlp-sink\.js'/m.test(readFileSync(f, 'utf8')),
    );
    expect(staticImporters).toEqual([]);
    expect(readFileSync(join(SRC, 'data/tracing/spans.ts'), 'utf8')).toContain(
      "await import('./otlp-sink.js')",
    );
  });

  it('has no circle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        circles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const t of edges.get(file) ?? []) visit(t, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of edges.keys()) visit(file, []);
    expect(circles).toEqual([]);
  });

  it('imports only to lower layers: the two planes never import each other', () => {
    const wrong: string[] = [];
    for (const [file, targets] of edges) {
      for (const t of targets) {
        const [from, to] = [top(file), top(t)];
        if (from === to) continue;
        if (
          LAYERS[to]! > LAYERS[from]! ||
          (LAYERS[to] === LAYERS[from] && from !== to && LAYERS[from] === 6)
        ) {
          wrong.push(`${file} -> ${t}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it("a node's status has one writer: only the node table family assigns a NodeStatus field", () => {
    expect(writers((type) => type === 'NodeStatus')).toEqual([
      'pool/node-table.ts',
      'pool/pool.ts',
      'pool/status-mirror.ts',
    ]);
  });

  it("a node's configuration is replaced whole, by its node table alone: no NodeConfig field assigned elsewhere", () => {
    expect(writers((type) => type === 'NodeConfig')).toEqual(['pool/node-table.ts']);
  });

  it("a node's traffic has one writer: only node-traffic.ts assigns in-flight, WebSocket and session counts", () => {
    expect(writers((type, property) => COUNTS.has(property) && type !== 'NodeView')).toEqual([
      'pool/node-traffic.ts',
    ]);
  });

  it("one head writer per client protocol: only data/reply.ts writes a response head on the data plane's sockets and streams", () => {
    const writing = files(SRC)
      .filter((file) => relative(SRC, file).startsWith('data/'))
      .filter((file) =>
        /\.writeHead\(|\.respond\(|HTTP\/1\.1 \$\{|'HTTP\/1\.1 /.test(readFileSync(file, 'utf8')),
      )
      .map((file) => relative(SRC, file));
    expect(writing).toEqual(['data/reply.ts']);
  });

  it('one attempt loop: the exchange alone takes a step after a failure, and only through attempts.ts', () => {
    const calling = (pattern: RegExp) =>
      files(SRC)
        .filter((file) => pattern.test(readFileSync(file, 'utf8')))
        .map((file) => relative(SRC, file));
    expect(calling(/\bafterFailure\(/)).toEqual(['data/attempts.ts', 'data/exchange/exchange.ts']);
    expect(calling(/\bnextStep\(/)).toEqual(['data/attempt-policy.ts', 'data/attempts.ts']);
  });

  it('one finisher: every answer is counted through data/request-record.ts alone', () => {
    const counting = files(SRC)
      .filter((file) => !relative(SRC, file).startsWith('metrics/'))
      .filter((file) => /\.countResponse\(/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(SRC, file));
    expect(counting).toEqual(['data/request-record.ts']);
  });

  it('contract/ never imports pool/: every arrow between them points from the pool to the contract', () => {
    const back = files(SRC)
      .filter((file) => relative(SRC, file).startsWith('contract/'))
      .filter((file) => /from '\.\.\/pool\//.test(readFileSync(file, 'utf8')))
      .map((file) => relative(SRC, file));
    expect(back).toEqual([]);
  });

  it('the data plane routes over a NodeTable: it never imports the pool that owns status', () => {
    const importers = files(SRC)
      .filter((file) => relative(SRC, file).startsWith('data/'))
      .filter((file) => /from '(\.\.\/)+pool\/pool\.js'/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(SRC, file));
    expect(importers).toEqual([]);
  });

  it('the data plane loads neither the schema nor zod at run time (a worker builds no schema)', () => {
    // Run-time edges only: `import type` is erased by the compiler.
    const runtime = new Map<string, string[]>();
    const packages = new Map<string, string[]>();
    for (const file of files(SRC)) {
      const text = readFileSync(file, 'utf8');
      const statements = [...text.matchAll(/^import\s+(?!type\s)[^;]*?from\s*'([^']+)';/gms)].map(
        (m) => m[1]!,
      );
      const rel = relative(SRC, file);
      runtime.set(
        rel,
        statements
          .filter((t) => t.startsWith('.'))
          .map((t) => relative(SRC, resolve(dirname(file), t.replace(/\.js$/, '.ts')))),
      );
      packages.set(
        rel,
        statements.filter((t) => !t.startsWith('.')),
      );
    }
    const reached = new Set<string>();
    const visit = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const t of runtime.get(file) ?? []) visit(t);
    };
    for (const file of runtime.keys())
      if (file.startsWith('data/') || file === 'modes/worker.ts') visit(file);
    expect(reached.has('config/schema.ts')).toBe(false);
    expect([...reached].filter((f) => packages.get(f)?.includes('zod'))).toEqual([]);
    expect(reached.has('data/data-plane.ts')).toBe(true);
  });
});

/** Traffic counts (in-flight work, WebSockets, content sessions) by their property names. */
const COUNTS = new Set(['inFlight', 'websockets', 'sessions', 'contentSessions']);

/**
 * Files of src/ that assign what `wanted(type, property)` names, found by type, not by name: any
 * assignment, `++`/`--` or Map `set`/`delete`/`clear` whose target is a property of an object whose
 * type is declared in pool/ (`type` its declared name).
 */
function writers(wanted: (type: string, property: string) => boolean): string[] {
  const program = ts.createProgram(files(SRC), {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const poolType = (expr: ts.Expression): string | undefined => {
    const symbol = checker.getTypeAtLocation(expr).getSymbol();
    const declared = (symbol?.declarations ?? []).some((d) =>
      relative(SRC, d.getSourceFile().fileName).startsWith('pool/'),
    );
    return declared ? symbol!.getName() : undefined;
  };
  const isWanted = (target: ts.Expression): boolean => {
    if (!ts.isPropertyAccessExpression(target)) return false;
    const type = poolType(target.expression);
    return type !== undefined && wanted(type, target.name.text);
  };
  const found = new Set<string>();
  for (const source of program.getSourceFiles()) {
    if (!source.fileName.startsWith(SRC)) continue;
    const visit = (node: ts.Node): void => {
      let target: ts.Expression | undefined;
      if (
        ts.isBinaryExpression(node) &&
        node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        node.operatorToken.kind <= ts.SyntaxKind.LastAssignment
      )
        target = node.left;
      else if (
        (ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) &&
        (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)
      )
        target = node.operand;
      else if (
        ts.isCallExpression(node) &&
        ts.isPropertyAccessExpression(node.expression) &&
        ['set', 'delete', 'clear'].includes(node.expression.name.text)
      )
        target = node.expression.expression;
      if (target !== undefined && isWanted(target)) found.add(relative(SRC, source.fileName));
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return [...found].sort();
}
