/** The shipped Prometheus alert rules name only metrics stickylb exports, with the labels they use. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../src/metrics/metrics.js';

const FILE = new URL('../../config/prometheus-alerts.yaml', import.meta.url);

interface Rule {
  alert: string;
  expr: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

describe('config/prometheus-alerts.yaml', () => {
  const rules = (parse(readFileSync(FILE, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap(
    (g) => g.rules,
  );

  it('has the alerts an admin needs: a node down, an expired licence, an app failing on a node, a degraded node', () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'StickylbNodeDown',
        'StickylbLicenceExpired',
        'StickylbAppFailingOnNode',
        'StickylbNodeDegraded',
      ]),
    );
    for (const r of rules) expect(r.annotations.summary.length).toBeGreaterThan(0);
  });

  it('every metric an expression reads is exported, with the labels it groups by', async () => {
    const exported = new Map(
      (await new Metrics().registry.getMetricsAsJSON()).map((m) => [m.name, m] as const),
    );
    for (const r of rules) {
      for (const name of r.expr.match(/stickylb_\w+/g) ?? []) {
        expect(exported.has(name), `${r.alert}: ${name}`).toBe(true);
      }
      const by = /by \(([^)]*)\)/.exec(r.expr)?.[1];
      if (by !== undefined) expect(by.trim()).toBe('upstream');
    }
  });
});
