// The Kubernetes manifests of deploy/kubernetes/ against the Kubernetes schemas (kubernetes-
// models: the API's OpenAPI definitions as validators and TypeScript types). The validators
// check required fields, types and formats but accept unknown fields, so each object is also
// type-checked as an object literal of its API type (TypeScript refuses excess properties: a
// misspelt `hostPid` is an error). The Warden configurations embedded in ConfigMaps are loaded
// by Warden's own loaders, and what refers to what (config path, ConfigMap key, probe port) is
// checked. Each check is shown to fail on a broken copy.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { loadWatchConfig } from '../../src/config/watch-config.js';
import { parseRunPolicy } from '../../src/config/run-policy.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIR = path.join(REPO, 'deploy/kubernetes');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-k8s-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

/** apiVersion/kind → the kubernetes-models module (e.g. apps/v1 DaemonSet → kubernetes-models/apps/v1/DaemonSet). */
function modelPath(o: K8sObject): string {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return `kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`;
}

function manifests(): Array<{ file: string; obj: K8sObject }> {
  const out: Array<{ file: string; obj: K8sObject }> = [];
  for (const f of fs.readdirSync(DIR).filter((x) => x.endsWith('.yaml') && x !== 'kustomization.yaml').sort())
    for (const d of parseAllDocuments(fs.readFileSync(path.join(DIR, f), 'utf8'))) {
      expect(d.errors, f).toEqual([]);
      out.push({ file: f, obj: d.toJS() as K8sObject });
    }
  return out;
}

async function schemaErrors(o: K8sObject): Promise<string | undefined> {
  const mod = (await import(modelPath(o))) as Record<string, new (x: unknown) => { validate(): void }>;
  try {
    new mod[o.kind]!(o).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** tsc over `const x: IKind = {…}` for each object: excess (unknown) properties are errors. */
function typeErrors(objs: K8sObject[]): string {
  const lines = objs.map((o, i) => {
    const p = require_resolve(modelPath(o));
    return `import type { I${o.kind} as T${i} } from ${JSON.stringify(p)};\nexport const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`;
  });
  const file = path.join(tmp, `check-${Math.random().toString(36).slice(2)}.ts`);
  fs.writeFileSync(file, lines.join('\n'));
  try {
    execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', file], { encoding: 'utf8', stdio: 'pipe' });
    return '';
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err);
  }
}

/** The .d.ts of a kubernetes-models module, by absolute path (the check file lives in a temp dir). */
function require_resolve(spec: string): string {
  return path.join(REPO, 'node_modules', `${spec}.js`);
}

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  const all = manifests();
  const byKind = (kind: string, name: string) => all.find((m) => m.obj.kind === kind && m.obj.metadata.name === name)!.obj as K8sObject & Record<string, any>;

  it('every object validates against the Kubernetes schema, and a broken one does not', async () => {
    expect(all.map((m) => `${m.obj.kind}/${m.obj.metadata.name}`).sort()).toEqual(['ConfigMap/warden-agent-policy', 'ConfigMap/warden-watch', 'DaemonSet/warden-watch', 'Job/agent-task', 'Namespace/warden']);
    for (const m of all) expect(await schemaErrors(m.obj), `${m.file}: ${m.obj.kind}`).toBeUndefined();
    const broken = structuredClone(byKind('DaemonSet', 'warden-watch'));
    broken.spec.template.spec.containers[0].ports[0].containerPort = '9464';
    expect(await schemaErrors(broken)).toMatch(/containerPort must be integer/);
  });

  it('no unknown field anywhere (type-checked as the API types), and a misspelt one is caught', { timeout: 120_000 }, () => {
    expect(typeErrors(all.map((m) => m.obj))).toBe('');
    const typo = structuredClone(byKind('DaemonSet', 'warden-watch'));
    typo.spec.template.spec.hostPid = typo.spec.template.spec.hostPID;
    delete typo.spec.template.spec.hostPID;
    expect(typeErrors([typo])).toMatch(/hostPid.*does not exist/);
  });

  it('the DaemonSet: host PID, the sensor privileges and mounts, its config valid for warden watch and probed on its port', () => {
    const ds = byKind('DaemonSet', 'warden-watch');
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.hostPID).toBe(true);
    expect(c.securityContext.privileged).toBe(true);
    expect(c.args).toEqual(['watch', '--config', '/etc/warden/watch.yaml']);
    const mounts = Object.fromEntries(c.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
    for (const p of ['/sys/kernel/tracing', '/sys/fs/bpf', '/sys/fs/cgroup', '/var/lib/warden', '/etc/warden']) expect(mounts[p], p).toBeDefined();
    const cm = byKind('ConfigMap', 'warden-watch');
    expect(pod.volumes.find((v: { name: string }) => v.name === mounts['/etc/warden']).configMap.name).toBe('warden-watch');
    const file = path.join(tmp, 'watch.yaml');
    fs.writeFileSync(file, cm.data['watch.yaml']);
    const cfg = loadWatchConfig(file);
    expect(cfg.sinks.stdout).toBeTruthy();
    expect(cfg.sinks.otlp?.endpoint).toMatch(/^http:\/\/.+:4318$/);
    expect(Number(cfg.http!.listen.split(':').pop())).toBe(c.ports.find((p: { name: string }) => p.name === c.livenessProbe.httpGet.port).containerPort);
    fs.writeFileSync(file, cm.data['watch.yaml'].replace('sse: false', 'sse: nope'));
    expect(() => loadWatchConfig(file)).toThrow(/http\.sse/);
  });

  it('the agent Job: warden supervise as the entrypoint with only the capabilities it needs, a valid policy, probes on its port', () => {
    const job = byKind('Job', 'agent-task');
    const c = job.spec.template.spec.containers[0];
    expect(c.command).toEqual(['/opt/warden/bin/warden']);
    expect(c.args.slice(0, 4)).toEqual(['supervise', '--policy', '/etc/warden/policy.yaml', '--']);
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'SETUID', 'SETGID', 'SETPCAP', 'KILL'] });
    expect(c.securityContext.privileged).toBeUndefined();
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'warden' });
    expect(c.ports[0].containerPort).toBe(9464); // supervise's default --listen
    const cm = byKind('ConfigMap', 'warden-agent-policy');
    const p = parseRunPolicy(cm.data['policy.yaml'], 'agent-job.yaml policy.yaml');
    expect(p.network.mode).toBe('allowlist');
    expect(p.credentials.every((x) => x.env && !x.file)).toBe(true); // supervise takes env credentials only
  });

  it('kustomization: its resources exist and its image is the one the manifests use', () => {
    const k = parse(fs.readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[]; images: Array<{ name: string }> };
    for (const r of k.resources) expect(fs.existsSync(path.join(DIR, r)), r).toBe(true);
    const image = byKind('DaemonSet', 'warden-watch').spec.template.spec.containers[0].image as string;
    expect(k.images.map((i) => i.name)).toContain(image.split(':')[0]);
  });
});
