/**
 * The Kubernetes manifests: the base (config/k8s/base) and the overlays that put stickylb behind a
 * Gateway, an Ingress or an L4 load balancer without ingress-nginx (config/k8s/expose), each
 * parsed, and rendered with `kubectl kustomize` where kubectl is installed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';

const ENV = {
  STICKYLB_SECRET: 'k8s-secret-0123456789',
  STICKYLB_ADMIN_TOKEN: 'k8s-admin-token-0123456789',
};
const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

/** `kubectl kustomize dir` as parsed documents. */
function render(dir: URL): Array<Record<string, unknown>> {
  const out = spawnSync('kubectl', ['kustomize', fileURLToPath(dir)], { encoding: 'utf8' });
  expect(out.stderr).toBe('');
  expect(out.status).toBe(0);
  return parseAllDocuments(out.stdout).map((d) => d.toJS() as Record<string, unknown>);
}

describe('config/k8s/base/configmap.yaml', () => {
  it('embeds a valid stickylb configuration', () => {
    const docs = parseAllDocuments(
      readFileSync(new URL('../../config/k8s/base/configmap.yaml', import.meta.url), 'utf8'),
    );
    const map = docs
      .map((d) => d.toJS() as { kind: string; data?: Record<string, string> })
      .find((d) => d.kind === 'ConfigMap');
    const env = {
      STICKYLB_SECRET: 'k8s-secret-0123456789',
      STICKYLB_ADMIN_TOKEN: 'k8s-admin-token-0123456789',
    };
    const config = parseConfigText(map!.data!['config.yaml']!, env);
    expect(config.upstreams).toHaveLength(2);
    expect(config.admin.host).toBe('0.0.0.0');
  });
});

describe('config/k8s', () => {
  const dir = new URL('../../config/k8s/base/', import.meta.url);
  const docs = (file: string) =>
    parseAllDocuments(readFileSync(new URL(file, dir), 'utf8')).map(
      (d) => d.toJS() as Record<string, unknown>,
    );

  it('kustomization.yaml names every manifest of the folder, and each parses', () => {
    const kustomization = docs('kustomization.yaml')[0] as { resources: string[] };
    const manifests = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(manifests.sort());
    for (const file of manifests)
      for (const doc of docs(file)) expect(doc.kind, file).toEqual(expect.any(String));
  });

  it('mounts the ConfigMap as a directory (a subPath mount is never updated) where the image reads its config', () => {
    const deployment = docs('deployment.yaml').find((d) => d.kind === 'Deployment') as {
      spec: { template: { spec: { containers: Array<{ volumeMounts: Array<Record<string, unknown>> }> } } };
    };
    const mounts = deployment.spec.template.spec.containers[0]!.volumeMounts;
    const config = mounts.find((m) => m.name === 'config')!;
    expect(config.subPath).toBeUndefined();
    expect(config.mountPath).toBe('/etc/stickylb');
    expect(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8')).toContain(
      '/etc/stickylb/config.yaml',
    );
  });

  it('the grace period covers shutdownDelay and shutdownTimeout; replicas spread; a PDB keeps one', () => {
    const map = docs('configmap.yaml').find((d) => d.kind === 'ConfigMap') as {
      data: Record<string, string>;
    };
    const config = parseConfigText(map.data['config.yaml']!, {
      STICKYLB_SECRET: 'k8s-secret-0123456789',
      STICKYLB_ADMIN_TOKEN: 'k8s-admin-token-0123456789',
    });
    expect(config.shutdownDelay).toBeGreaterThan(0);
    const deployment = docs('deployment.yaml').find((d) => d.kind === 'Deployment') as {
      spec: {
        template: { spec: { terminationGracePeriodSeconds: number; topologySpreadConstraints: unknown[] } };
      };
    };
    const pod = deployment.spec.template.spec;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      config.shutdownDelay + config.shutdownTimeout,
    );
    expect(pod.topologySpreadConstraints.length).toBeGreaterThan(0);
    const pdb = docs('pdb.yaml').find((d) => d.kind === 'PodDisruptionBudget') as {
      spec: { minAvailable: number };
    };
    expect(pdb.spec.minAvailable).toBe(1);
  });

  it.runIf(kubectl)('renders with kubectl kustomize (where kubectl is installed)', () => {
    const kinds = render(dir).map((d) => d.kind as string);
    expect(kinds.sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'Service',
    ]);
  });
});

describe('config/k8s/expose: stickylb without ingress-nginx', () => {
  const expose = new URL('../../config/k8s/expose/', import.meta.url);
  const overlays = readdirSync(expose, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();

  it('has a Gateway API route, a TLS passthrough route, a plain Ingress and an L4 Service', () => {
    expect(overlays).toEqual(['gateway', 'gateway-passthrough', 'ingress', 'loadbalancer']);
  });

  it.each(['gateway', 'gateway-passthrough', 'ingress', 'loadbalancer'])(
    '%s: every file parses and is in its kustomization; nothing asks for affinity in front',
    (name) => {
      const dir = new URL(`${name}/`, expose);
      const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
      const kustomization = parseAllDocuments(
        readFileSync(new URL('kustomization.yaml', dir), 'utf8'),
      )[0]!.toJS() as {
        resources: string[];
        patches?: Array<{ path: string }>;
      };
      const named = [...kustomization.resources, ...(kustomization.patches ?? []).map((p) => p.path)];
      expect(named).toContain('../../base');
      for (const f of files.filter((f) => f !== 'kustomization.yaml')) expect(named, f).toContain(f);
      for (const f of files) {
        for (const doc of parseAllDocuments(readFileSync(new URL(f, dir), 'utf8'))) {
          expect(doc.errors).toEqual([]);
          // No affinity annotation, no Service session affinity, no sticky setting in front.
          expect(JSON.stringify(doc.toJS())).not.toMatch(
            /ingress\.kubernetes\.io\/affinity|"sessionAffinity"|"sticky"/i,
          );
        }
      }
    },
  );

  describe.runIf(kubectl)('rendered with kubectl kustomize (where kubectl is installed)', () => {
    const kindsOf = (docs: Array<Record<string, unknown>>) => docs.map((d) => d.kind as string).sort();
    const base = ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service', 'Service'];

    it('gateway: an HTTPRoute to the stickylb Service', () => {
      const docs = render(new URL('gateway/', expose));
      expect(kindsOf(docs)).toEqual([...base, 'Gateway', 'HTTPRoute'].sort());
      const route = docs.find((d) => d.kind === 'HTTPRoute') as {
        spec: { rules: Array<{ backendRefs: Array<{ name: string; port: number }> }> };
      };
      const service = docs.find(
        (d) => d.kind === 'Service' && (d.metadata as { name: string }).name === 'stickylb',
      ) as {
        spec: { ports: Array<{ port: number }> };
      };
      expect(route.spec.rules[0]!.backendRefs).toEqual([
        { name: 'stickylb', port: service.spec.ports[0]!.port },
      ]);
    });

    it('gateway-passthrough: a TLSRoute to stickylb, which terminates TLS on the port the Service exposes', () => {
      const docs = render(new URL('gateway-passthrough/', expose));
      expect(kindsOf(docs)).toEqual([...base, 'Gateway', 'TLSRoute'].sort());
      const gateway = docs.find((d) => d.kind === 'Gateway') as {
        spec: { listeners: Array<{ tls: { mode: string } }> };
      };
      expect(gateway.spec.listeners[0]!.tls.mode).toBe('Passthrough');
      const route = docs.find((d) => d.kind === 'TLSRoute') as {
        spec: { rules: Array<{ backendRefs: Array<{ name: string; port: number }> }> };
      };
      const service = docs.find(
        (d) => d.kind === 'Service' && (d.metadata as { name: string }).name === 'stickylb',
      ) as {
        spec: { ports: Array<{ port: number }> };
      };
      expect(service.spec.ports).toHaveLength(1);
      expect(route.spec.rules[0]!.backendRefs).toEqual([
        { name: 'stickylb', port: service.spec.ports[0]!.port },
      ]);
      const map = docs.find((d) => d.kind === 'ConfigMap') as { data: Record<string, string> };
      const config = parseConfigText(map.data['config.yaml']!, ENV);
      expect(config.listen.tls).toEqual({
        cert: '/etc/stickylb-tls/tls.crt',
        key: '/etc/stickylb-tls/tls.key',
      });
    });

    it('ingress: a plain Ingress to the stickylb Service, no affinity annotation', () => {
      const docs = render(new URL('ingress/', expose));
      expect(kindsOf(docs)).toEqual([...base, 'Ingress'].sort());
      const ingress = docs.find((d) => d.kind === 'Ingress') as { metadata: { annotations?: unknown } };
      expect(ingress.metadata.annotations).toBeUndefined();
    });

    it('loadbalancer: the stickylb Service as an L4 LoadBalancer', () => {
      const docs = render(new URL('loadbalancer/', expose));
      expect(kindsOf(docs)).toEqual(base);
      const service = docs.find(
        (d) => d.kind === 'Service' && (d.metadata as { name: string }).name === 'stickylb',
      ) as {
        spec: { type: string };
      };
      expect(service.spec.type).toBe('LoadBalancer');
    });
  });
});
