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
  /** Variables that carry its API keys. */
  keyEnv: string[];
  /** Hosts of its API, login, telemetry and updates. */
  hosts: string[];
}

export const AGENTS: readonly AgentInfo[] = [
  {
    name: 'claude',
    title: 'Claude Code',
    credentials: ['~/.claude/.credentials.json', '~/.claude.json', '~/.claude.json.backup', '~/.claude/projects', '~/.claude/history.jsonl', '~/.claude/todos', '~/.claude/shell-snapshots', '~/.config/Claude'],
    state: ['~/.claude', '~/.claude.json', '~/.claude.json.backup', '~/.cache/claude', '~/.local/share/claude', '~/.local/state/claude', '~/.config/claude'],
    keyEnv: ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_BASE_URL', 'ANTHROPIC_MODEL'],
    hosts: ['api.anthropic.com', 'console.anthropic.com', 'claude.ai', 'statsig.anthropic.com', 'sentry.io', 'storage.googleapis.com', 'registry.npmjs.org'],
  },
  {
    name: 'codex',
    title: 'Codex CLI',
    credentials: ['~/.codex/auth.json', '~/.codex/.credentials.json', '~/.codex/sessions', '~/.codex/history.jsonl', '~/.codex/log'],
    state: ['~/.codex'],
    keyEnv: ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENAI_ORG_ID', 'OPENAI_PROJECT_ID', 'CODEX_HOME'],
    hosts: ['api.openai.com', 'chatgpt.com', 'auth.openai.com', 'ab.chatgpt.com', 'registry.npmjs.org'],
  },
  {
    name: 'gemini',
    title: 'Gemini CLI',
    credentials: ['~/.gemini/oauth_creds.json', '~/.gemini/google_accounts.json', '~/.gemini/.env', '~/.gemini/mcp-oauth-tokens.json', '~/.gemini/tmp', '~/.gemini/history'],
    state: ['~/.gemini'],
    keyEnv: ['GEMINI_API_KEY', 'GOOGLE_API_KEY', 'GOOGLE_CLOUD_PROJECT', 'GOOGLE_CLOUD_LOCATION', 'GOOGLE_GENAI_USE_VERTEXAI', 'GOOGLE_APPLICATION_CREDENTIALS'],
    hosts: ['generativelanguage.googleapis.com', 'cloudcode-pa.googleapis.com', 'oauth2.googleapis.com', 'www.googleapis.com', 'play.googleapis.com', 'registry.npmjs.org'],
  },
  {
    name: 'cursor-agent',
    title: 'Cursor agent',
    credentials: ['~/.config/cursor/auth.json', '~/.cursor/auth.json', '~/.cursor/mcp.json', '~/.cursor/chats'],
    state: ['~/.cursor', '~/.config/cursor', '~/.local/share/cursor-agent'],
    keyEnv: ['CURSOR_API_KEY'],
    hosts: ['api2.cursor.sh', 'api.cursor.com', 'repo42.cursor.sh', 'downloads.cursor.com'],
  },
  {
    name: 'aider',
    title: 'Aider',
    credentials: ['~/.aider/oauth-keys.env', '~/.aider.conf.yml'],
    state: ['~/.aider', '~/.aider.conf.yml', '~/.aider.model.settings.yml', '~/.aider.model.metadata.json'],
    keyEnv: ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'OPENROUTER_API_KEY', 'DEEPSEEK_API_KEY', 'AIDER_*'],
    hosts: ['api.openai.com', 'api.anthropic.com', 'openrouter.ai', 'pypi.org'],
  },
  {
    name: 'openclaw',
    title: 'OpenClaw',
    credentials: ['~/.openclaw/credentials', '~/.openclaw/agents/*/agent/auth-profiles.json'],
    state: ['~/.openclaw'],
    keyEnv: ['OPENCLAW_*'],
    hosts: [],
  },
  {
    name: 'copilot',
    title: 'GitHub Copilot',
    credentials: ['~/.config/github-copilot/hosts.json', '~/.config/github-copilot/apps.json', '~/.copilot/config.json'],
    state: ['~/.copilot', '~/.config/github-copilot'],
    keyEnv: ['GH_TOKEN', 'GITHUB_TOKEN', 'COPILOT_*'],
    hosts: ['api.githubcopilot.com', 'api.github.com', 'github.com'],
  },
  {
    name: 'opencode',
    title: 'OpenCode',
    credentials: ['~/.local/share/opencode/auth.json', '~/.local/share/opencode/storage'],
    state: ['~/.local/share/opencode', '~/.config/opencode', '~/.cache/opencode'],
    keyEnv: [],
    hosts: [],
  },
  {
    name: 'goose',
    title: 'Goose',
    credentials: ['~/.config/goose/secrets.yaml'],
    state: ['~/.config/goose', '~/.local/share/goose'],
    keyEnv: [],
    hosts: [],
  },
  {
    name: 'qwen',
    title: 'Qwen Code',
    credentials: ['~/.qwen/oauth_creds.json', '~/.qwen/.env'],
    state: ['~/.qwen'],
    keyEnv: ['DASHSCOPE_API_KEY'],
    hosts: [],
  },
  {
    name: 'amp',
    title: 'Amp',
    credentials: ['~/.local/share/amp/secrets.json'],
    state: ['~/.local/share/amp', '~/.config/amp', '~/.cache/amp'],
    keyEnv: ['AMP_API_KEY'],
    hosts: ['ampcode.com'],
  },
  {
    name: 'continue',
    title: 'Continue',
    credentials: ['~/.continue/config.json', '~/.continue/config.yaml', '~/.continue/.env'],
    state: ['~/.continue'],
    keyEnv: [],
    hosts: [],
  },
  {
    name: 'windsurf',
    title: 'Windsurf / Codeium',
    credentials: ['~/.codeium/config.json', '~/.codeium/windsurf/user_settings.pb'],
    state: ['~/.codeium'],
    keyEnv: [],
    hosts: [],
  },
];

export function agentInfo(name: string): AgentInfo | undefined {
  return AGENTS.find((a) => a.name === name);
}
