import { describe, expect, it } from 'vitest';
import { AgentMatcher } from '../../src/model/agents.js';

const m = new AgentMatcher([{ name: 'my-agent', binary: 'my-agent', argsRegex: /--serve/ }]);

describe('agent detection', () => {
  it.each([
    [['claude'], 'claude'],
    [['/usr/local/bin/claude', '--print', 'hi'], 'claude'],
    [['codex', 'exec'], 'codex'],
    [['gemini'], 'gemini'],
    [['cursor-agent'], 'cursor-agent'],
    [['aider', '--model', 'x'], 'aider'],
    [['openclaw-gateway'], 'openclaw'],
    [['node', '/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js'], 'claude'],
    [['node', '--max-old-space-size=4096', '/usr/local/bin/codex'], 'codex'],
    [['/usr/bin/node', '/home/u/.npm/_npx/1/node_modules/@openai/codex/bin/codex.js'], 'codex'],
    [['node', '/usr/lib/node_modules/@google/gemini-cli/dist/index.js'], 'gemini'],
    [['python3', '/home/u/.local/bin/aider'], 'aider'],
    [['python3.11', '-m', 'aider', '--yes'], 'aider'],
    [['my-agent', '--serve'], 'my-agent'],
  ])('%j is %s', (argv, name) => {
    expect(m.match({ argv })).toBe(name);
  });

  it.each([
    [['node', 'server.js']],
    [['python3', '-c', 'import claude']],
    [['CursorUIViewService']],
    [['claude-helper']],
    [['my-agent', '--once']],
    [['bash', '-c', 'claude']],
    [[]],
  ])('%j is not an agent', (argv) => {
    expect(m.match({ argv })).toBeUndefined();
  });

  it('uses comm when argv is unreadable', () => {
    expect(m.match({ argv: [], comm: 'claude' })).toBe('claude');
  });
});
