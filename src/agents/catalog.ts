// What Warden knows about each AI coding agent, as data: how it is named, where it keeps its
// configuration and state, which of its files are credentials, which variables carry its keys
// and which hosts it talks to. Read by the sandbox (secrets hidden, agent profiles), the rules
// (another agent's tokens are credential access) and the model. Imports nothing of Warden's.
// `~/` is the user's home.

export interface AgentInfo {
  /** Session name, as in agent detection (model/agents.ts). */
  name: string;
  /** Human name for messages and docs. */
  title: string;
  /** Files holding the agent's own tokens, and its transcripts and histories (what users paste into a chat): secrets for everyone else. */
  credentials: string[];
  /** Directories and files it writes in the home for its own config and state. */
  state: string[];
  /** Its state directories, writable to its own profile in `warden run` (the first is created when missing). */
  stateDirs: string[];
  /**
   * Files directly in the home that it rewrites through a temporary file and a rename (so the
   * home itself must be writable): its profile gets a private copy, written back after the run.
   */
  homeFiles: string[];
  /**
   * Its own config that makes it run programs (hooks, MCP servers, plugins, extensions):
   * read-only to it in `warden run`, so a prompt-injected session cannot make the next session
   * on the host run something.
   */
  execConfig: string[];
  /** JSON keys of its home files that define programs to run: a change there is not written back. */
  execKeys?: string[];
  /**
   * Its settings files that mix preferences with programs to run: writable to it, but a change
   * of these keys (JSON paths, `*` any key; for TOML, table or key names) is undone after the
   * run, the agent's version kept beside the file.
   */
  judgedConfig?: Array<{ path: string; format: 'json' | 'toml'; keys: string[] }>;
  /** It talks to its own daemon over a unix socket in its state (socket(AF_UNIX) allowed to its profile). */
  unixSockets?: boolean;
  /** argv[0] basenames it is started by. */
  binaries: string[];
  /** Its npm packages (a node script path containing one is this agent). */
  packages?: string[];
  /** Variables that carry its API keys. */
  keyEnv: string[];
  /** Hosts of its API, login, telemetry and updates. */
  hosts: string[];
}

/** Claude Code settings that run programs or decide what runs (hooks, MCP servers, helpers, environment, permissions). */
const CLAUDE_SETTINGS_EXEC = ['hooks', 'mcpServers', 'enabledMcpjsonServers', 'enableAllProjectMcpServers', 'statusLine', 'apiKeyHelper', 'awsAuthRefresh', 'awsCredentialExport', 'otelHeadersHelper', 'env', 'permissions', 'enabledPlugins', 'extraKnownMarketplaces', 'forceLoginMethod'];

export const AGENTS: readonly AgentInfo[] = [
  {
    name: 'claude',
    title: 'Claude Code',
    credentials: ['~/.claude/.credentials.json', '~/.claude.json', '~/.claude.json.backup', '~/.claude/projects', '~/.claude/history.jsonl', '~/.claude/todos', '~/.claude/shell-snapshots', '~/.config/Claude'],
    state: ['~/.claude', '~/.claude.json', '~/.claude.json.backup', '~/.cache/claude', '~/.local/share/claude', '~/.local/state/claude', '~/.config/claude'],
    stateDirs: ['~/.claude', '~/.cache/claude', '~/.local/share/claude', '~/.local/state/claude', '~/.config/claude'],
    homeFiles: ['~/.claude.json', '~/.claude.json.backup'],
    execConfig: ['~/.claude/hooks', '~/.claude/agents', '~/.claude/commands', '~/.claude/skills', '~/.claude/output-styles'],
    judgedConfig: [
      { path: '~/.claude/settings.json', format: 'json', keys: CLAUDE_SETTINGS_EXEC },
      { path: '~/.claude/settings.local.json', format: 'json', keys: CLAUDE_SETTINGS_EXEC },
      // plugins carry hooks and commands: what is installed, and from where, stays the user's choice
      { path: '~/.claude/plugins/installed_plugins.json', format: 'json', keys: ['*'] },
      { path: '~/.claude/plugins/known_marketplaces.json', format: 'json', keys: ['*'] },
    ],
    execKeys: ['mcpServers', 'projects.*.mcpServers', 'projects.*.enabledMcpjsonServers', 'projects.*.allowedTools', 'hooks'],
    binaries: ['claude'],
    packages: ['@anthropic-ai/claude-code'],
    keyEnv: ['ANTHROPIC_*', 'CLAUDE_CODE_*', 'CLAUDE_CONFIG_DIR', 'DISABLE_AUTOUPDATER', 'DISABLE_TELEMETRY', 'DISABLE_ERROR_REPORTING'],
    hosts: ['api.anthropic.com', 'console.anthropic.com', 'platform.claude.com', 'claude.ai', 'statsig.anthropic.com', 'sentry.io', 'storage.googleapis.com', 'registry.npmjs.org'],
  },
  {
    name: 'codex',
    title: 'Codex CLI',
    credentials: ['~/.codex/auth.json', '~/.codex/.credentials.json', '~/.codex/sessions', '~/.codex/history.jsonl', '~/.codex/log'],
    state: ['~/.codex'],
    stateDirs: ['~/.codex'],
    homeFiles: [],
    execConfig: ['~/.codex/prompts', '~/.codex/rules'],
    judgedConfig: [{ path: '~/.codex/config.toml', format: 'toml', keys: ['mcp_servers', 'notify', 'command', 'args', 'env', 'shell_environment_policy', 'model_providers', 'experimental_instructions_file', 'sandbox_mode', 'approval_policy', 'sandbox_workspace_write'] }],
    unixSockets: true,
    binaries: ['codex'],
    packages: ['@openai/codex'],
    keyEnv: ['OPENAI_*', 'CODEX_*'],
    hosts: ['api.openai.com', 'chatgpt.com', 'auth.openai.com', 'ab.chatgpt.com', 'registry.npmjs.org'],
  },
  {
    name: 'gemini',
    title: 'Gemini CLI',
    credentials: ['~/.gemini/oauth_creds.json', '~/.gemini/google_accounts.json', '~/.gemini/.env', '~/.gemini/mcp-oauth-tokens.json', '~/.gemini/tmp', '~/.gemini/history'],
    state: ['~/.gemini'],
    stateDirs: ['~/.gemini'],
    homeFiles: [],
    execConfig: ['~/.gemini/extensions', '~/.gemini/commands'],
    judgedConfig: [{ path: '~/.gemini/settings.json', format: 'json', keys: ['mcpServers', 'hooks', 'tools', 'advanced', 'security', 'extensions', 'mcp', 'context.includeDirectories'] }],
    binaries: ['gemini'],
    packages: ['@google/gemini-cli'],
    keyEnv: ['GEMINI_*', 'GOOGLE_API_KEY', 'GOOGLE_CLOUD_PROJECT', 'GOOGLE_CLOUD_LOCATION', 'GOOGLE_GENAI_USE_VERTEXAI', 'GOOGLE_APPLICATION_CREDENTIALS'],
    hosts: ['generativelanguage.googleapis.com', 'cloudcode-pa.googleapis.com', 'oauth2.googleapis.com', 'www.googleapis.com', 'play.googleapis.com', 'registry.npmjs.org'],
  },
  {
    name: 'cursor-agent',
    title: 'Cursor agent',
    credentials: ['~/.config/cursor/auth.json', '~/.cursor/auth.json', '~/.cursor/mcp.json', '~/.cursor/chats'],
    state: ['~/.cursor', '~/.config/cursor', '~/.local/share/cursor-agent'],
    stateDirs: ['~/.cursor', '~/.config/cursor', '~/.local/share/cursor-agent'],
    homeFiles: [],
    execConfig: ['~/.cursor/mcp.json', '~/.cursor/cli-config.json', '~/.cursor/rules'],
    binaries: ['cursor-agent'],
    keyEnv: ['CURSOR_*'],
    hosts: ['api2.cursor.sh', 'api.cursor.com', 'repo42.cursor.sh', 'downloads.cursor.com'],
  },
  {
    name: 'aider',
    title: 'Aider',
    credentials: ['~/.aider/oauth-keys.env', '~/.aider.conf.yml'],
    state: ['~/.aider', '~/.aider.conf.yml', '~/.aider.model.settings.yml', '~/.aider.model.metadata.json'],
    stateDirs: ['~/.aider'],
    homeFiles: [],
    execConfig: [],
    binaries: ['aider'],
    keyEnv: ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'OPENROUTER_API_KEY', 'DEEPSEEK_API_KEY', 'AIDER_*'],
    hosts: ['api.openai.com', 'api.anthropic.com', 'openrouter.ai', 'pypi.org'],
  },
  {
    name: 'openclaw',
    title: 'OpenClaw',
    credentials: ['~/.openclaw/credentials', '~/.openclaw/agents/*/agent/auth-profiles.json'],
    state: ['~/.openclaw'],
    stateDirs: ['~/.openclaw'],
    homeFiles: [],
    execConfig: ['~/.openclaw/openclaw.json', '~/.openclaw/extensions', '~/.openclaw/skills'],
    binaries: ['openclaw', 'openclaw-gateway'],
    keyEnv: ['OPENCLAW_*'],
    hosts: [],
  },
  {
    name: 'copilot',
    title: 'GitHub Copilot',
    credentials: ['~/.config/github-copilot/hosts.json', '~/.config/github-copilot/apps.json', '~/.copilot/config.json'],
    state: ['~/.copilot', '~/.config/github-copilot'],
    stateDirs: ['~/.copilot', '~/.config/github-copilot'],
    homeFiles: [],
    execConfig: ['~/.copilot/config.json', '~/.copilot/mcp-config.json'],
    binaries: ['copilot'],
    keyEnv: ['GH_TOKEN', 'GITHUB_TOKEN', 'COPILOT_*'],
    hosts: ['api.githubcopilot.com', 'api.github.com', 'github.com'],
  },
  {
    name: 'opencode',
    title: 'OpenCode',
    credentials: ['~/.local/share/opencode/auth.json', '~/.local/share/opencode/storage'],
    state: ['~/.local/share/opencode', '~/.config/opencode', '~/.cache/opencode'],
    stateDirs: ['~/.local/share/opencode', '~/.config/opencode', '~/.cache/opencode'],
    homeFiles: [],
    execConfig: ['~/.config/opencode/opencode.json', '~/.config/opencode/plugin'],
    binaries: ['opencode'],
    keyEnv: [],
    hosts: [],
  },
  {
    name: 'goose',
    title: 'Goose',
    credentials: ['~/.config/goose/secrets.yaml'],
    state: ['~/.config/goose', '~/.local/share/goose'],
    stateDirs: ['~/.config/goose', '~/.local/share/goose'],
    homeFiles: [],
    execConfig: ['~/.config/goose/config.yaml'],
    binaries: ['goose'],
    keyEnv: [],
    hosts: [],
  },
  {
    name: 'qwen',
    title: 'Qwen Code',
    credentials: ['~/.qwen/oauth_creds.json', '~/.qwen/.env'],
    state: ['~/.qwen'],
    stateDirs: ['~/.qwen'],
    homeFiles: [],
    execConfig: ['~/.qwen/settings.json'],
    binaries: ['qwen'],
    keyEnv: ['DASHSCOPE_API_KEY'],
    hosts: [],
  },
  {
    name: 'amp',
    title: 'Amp',
    credentials: ['~/.local/share/amp/secrets.json'],
    state: ['~/.local/share/amp', '~/.config/amp', '~/.cache/amp'],
    stateDirs: ['~/.local/share/amp', '~/.config/amp', '~/.cache/amp'],
    homeFiles: [],
    execConfig: ['~/.config/amp/settings.json'],
    binaries: ['amp'],
    keyEnv: ['AMP_API_KEY'],
    hosts: ['ampcode.com'],
  },
  {
    name: 'continue',
    title: 'Continue',
    credentials: ['~/.continue/config.json', '~/.continue/config.yaml', '~/.continue/.env'],
    state: ['~/.continue'],
    stateDirs: ['~/.continue'],
    homeFiles: [],
    execConfig: ['~/.continue/config.yaml', '~/.continue/config.json'],
    binaries: ['cn'],
    keyEnv: [],
    hosts: [],
  },
  {
    name: 'windsurf',
    title: 'Windsurf / Codeium',
    credentials: ['~/.codeium/config.json', '~/.codeium/windsurf/user_settings.pb'],
    state: ['~/.codeium'],
    stateDirs: ['~/.codeium'],
    homeFiles: [],
    execConfig: ['~/.codeium/windsurf/mcp_config.json'],
    binaries: ['windsurf'],
    keyEnv: [],
    hosts: [],
  },
];

export function agentInfo(name: string): AgentInfo | undefined {
  return AGENTS.find((a) => a.name === name);
}

/** The agent a command starts: argv[0]'s basename, or a node script of its npm package. */
export function agentForCommand(argv: readonly string[]): AgentInfo | undefined {
  const base = (p: string | undefined) => (p ?? '').slice((p ?? '').lastIndexOf('/') + 1);
  const first = base(argv[0]);
  const direct = AGENTS.find((a) => a.binaries.includes(first));
  if (direct) return direct;
  if (/^(node|nodejs|bun|npx)$/.test(first)) {
    const script = argv.slice(1).find((a) => !a.startsWith('-')) ?? '';
    return AGENTS.find((a) => a.binaries.includes(base(script)) || (a.packages ?? []).some((p) => script.includes(p)));
  }
  return undefined;
}
