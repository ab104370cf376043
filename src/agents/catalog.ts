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
  /**
   * Its state directories (the first is created when missing). In `warden run` the agent gets
   * each as a private layer: what exists is read-only, what it creates is discarded with the
   * run, except the `keep` entries.
   */
  stateDirs: string[];
  /**
   * What of its state is data and outlives the run: sessions, transcripts, histories, caches of
   * its own, its login. Directories are writable in place; files are copied in and written back
   * when changed; new ones are copied out (regular files and directories only, never
   * executable). A `*` matches within one name. Never its settings, hooks, MCP servers,
   * plugins, extensions, instructions or installs: a prompt-injected session must not be able
   * to make the next session run something or believe something.
   */
  keep: string[];
  /**
   * Files outside its state that the CLI itself reads at every start, by design (Gemini CLI's
   * update check reads the npm configuration for the registry): not credential access when its
   * own program reads them.
   */
  startupReads?: string[];
  /** Kept directories where only the current project's entry is visible and kept (name: the workspace path with every non-alphanumeric as `-`). */
  perProject?: string[];
  /**
   * Entries of its state that start empty inside and are discarded: what connects to its
   * processes on the host (a daemon's socket, an IDE's lock files with their tokens), which a
   * sandboxed session must not drive.
   */
  fresh?: string[];
  /**
   * Files directly in the home that it rewrites through a temporary file and a rename (so the
   * home itself must be writable): its profile gets a private copy, and after the run only the
   * `keys` listed are taken from its version into the original (top-level names; `projects.*.x`
   * for a key inside every project).
   */
  homeFiles: Array<{ path: string; keys: string[] }>;
  /** Variables its profile sets (turning off self-updates and the like). */
  setEnv?: Record<string, string>;
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
  /**
   * What the governor gives one session of it by default (`governor.agents` overrides):
   * memory where it is slowed or stopped (soft) and where the kernel stops it (hard), CPU
   * weight (100 = an ordinary process's share), processes.
   */
  limits?: AgentLimits;
}

export interface AgentLimits {
  memoryHigh: string;
  memoryMax: string;
  cpuWeight: number;
  pids: number;
}

/** Limits of an agent without its own entry (and of custom agents from the watch config). */
export const DEFAULT_AGENT_LIMITS: AgentLimits = { memoryHigh: '2GB', memoryMax: '3GB', cpuWeight: 100, pids: 4096 };

export const AGENTS: readonly AgentInfo[] = [
  {
    name: 'claude',
    title: 'Claude Code',
    credentials: ['~/.claude/.credentials.json', '~/.claude.json', '~/.claude.json.backup', '~/.claude/projects', '~/.claude/history.jsonl', '~/.claude/todos', '~/.claude/shell-snapshots'],
    state: ['~/.claude', '~/.claude.json', '~/.claude.json.backup', '~/.cache/claude', '~/.local/share/claude', '~/.local/state/claude', '~/.config/claude'],
    stateDirs: ['~/.claude', '~/.cache/claude', '~/.local/state/claude', '~/.local/share/claude'],
    keep: ['~/.claude/projects', '~/.claude/todos', '~/.claude/sessions', '~/.claude/telemetry', '~/.claude/statsig', '~/.claude/backups', '~/.claude/debug', '~/.claude/file-history', '~/.claude/paste-cache', '~/.claude/history.jsonl', '~/.claude/.last-cleanup', '~/.claude/.credentials.json'],
    perProject: ['~/.claude/projects'],
    fresh: ['~/.claude/ide', '~/.claude/shell-snapshots'],
    homeFiles: [{ path: '~/.claude.json', keys: ['numStartups', 'firstStartTime', 'firstStartVersion', 'installMethod', 'autoUpdates', 'tipsHistory', 'seenNotifications', 'cachedStatsigGates', 'cachedDynamicConfigs', 'cachedGrowthBookFeatures', 'lastReleaseNotesSeen', 'changelogLastFetched', 'hasCompletedOnboarding', 'lastOnboardingVersion', 'opusProMigrationComplete', 'sonnet45MigrationComplete', 'hasResetAutoModeOptInForDefaultOffer', 'userID', 'oauthAccount', 'subscriptionNoticeCount', 'hasAvailableSubscription', 'recommendedSubscription', 'fallbackAvailableWarningThreshold', 'shiftEnterKeyBindingInstalled', 'theme', 'verbose', 'editorMode', 'projects.*.history', 'projects.*.lastCost', 'projects.*.lastAPIDuration', 'projects.*.lastAPIDurationWithoutRetries', 'projects.*.lastToolDuration', 'projects.*.lastDuration', 'projects.*.lastLinesAdded', 'projects.*.lastLinesRemoved', 'projects.*.lastTotalInputTokens', 'projects.*.lastTotalOutputTokens', 'projects.*.lastTotalCacheCreationInputTokens', 'projects.*.lastTotalCacheReadInputTokens', 'projects.*.lastTotalWebSearchRequests', 'projects.*.lastModelUsage', 'projects.*.lastSessionId', 'projects.*.exampleFiles', 'projects.*.exampleFilesGeneratedAt', 'projects.*.hasCompletedProjectOnboarding', 'projects.*.projectOnboardingSeenCount', 'projects.*.hasClaudeMdExternalIncludesApproved', 'projects.*.hasClaudeMdExternalIncludesWarningShown'] }],
    setEnv: { DISABLE_AUTOUPDATER: '1' },
    binaries: ['claude'],
    packages: ['@anthropic-ai/claude-code'],
    keyEnv: ['ANTHROPIC_*', 'CLAUDE_CODE_*', 'CLAUDE_CONFIG_DIR', 'DISABLE_AUTOUPDATER', 'DISABLE_TELEMETRY', 'DISABLE_ERROR_REPORTING'],
    // (no update hosts: storage.googleapis.com and registry.npmjs.org accept uploads from anyone;
    // the profile turns self-updates off)
    hosts: ['api.anthropic.com', 'console.anthropic.com', 'platform.claude.com', 'claude.ai', 'statsig.anthropic.com', 'sentry.io'],
    limits: { memoryHigh: '3GB', memoryMax: '4GB', cpuWeight: 100, pids: 4096 },
  },
  {
    name: 'codex',
    title: 'Codex CLI',
    credentials: ['~/.codex/auth.json', '~/.codex/.credentials.json', '~/.codex/sessions', '~/.codex/history.jsonl', '~/.codex/log'],
    state: ['~/.codex'],
    stateDirs: ['~/.codex'],
    fresh: ['~/.codex/app-server-control', '~/.codex/app-server-daemon', '~/.codex/tmp'],
    keep: ['~/.codex/sessions', '~/.codex/archived_sessions', '~/.codex/history.jsonl', '~/.codex/log', '~/.codex/auth.json', '~/.codex/.credentials.json', '~/.codex/installation_id', '~/.codex/version.json', '~/.codex/models_cache.json', '~/.codex/state_*.sqlite*', '~/.codex/logs_*.sqlite*', '~/.codex/goals_*.sqlite*', '~/.codex/queue_*.sqlite*'],
    homeFiles: [],
    unixSockets: true,
    binaries: ['codex'],
    packages: ['@openai/codex'],
    keyEnv: ['OPENAI_*', 'CODEX_*'],
    hosts: ['api.openai.com', 'chatgpt.com', 'auth.openai.com', 'ab.chatgpt.com'],
    limits: { memoryHigh: '1.5GB', memoryMax: '2GB', cpuWeight: 100, pids: 4096 },
  },
  {
    name: 'gemini',
    title: 'Gemini CLI',
    credentials: ['~/.gemini/oauth_creds.json', '~/.gemini/google_accounts.json', '~/.gemini/.env', '~/.gemini/mcp-oauth-tokens.json', '~/.gemini/tmp', '~/.gemini/history'],
    state: ['~/.gemini'],
    stateDirs: ['~/.gemini'],
    keep: ['~/.gemini/tmp', '~/.gemini/history', '~/.gemini/installation_id', '~/.gemini/user_id', '~/.gemini/projects.json', '~/.gemini/state.json', '~/.gemini/oauth_creds.json', '~/.gemini/google_accounts.json', '~/.gemini/mcp-oauth-tokens.json'],
    homeFiles: [],
    binaries: ['gemini'],
    startupReads: ['~/.npmrc'],
    packages: ['@google/gemini-cli'],
    keyEnv: ['GEMINI_*', 'GOOGLE_API_KEY', 'GOOGLE_CLOUD_PROJECT', 'GOOGLE_CLOUD_LOCATION', 'GOOGLE_GENAI_USE_VERTEXAI', 'GOOGLE_APPLICATION_CREDENTIALS'],
    hosts: ['generativelanguage.googleapis.com', 'cloudcode-pa.googleapis.com', 'oauth2.googleapis.com', 'play.googleapis.com'],
    limits: { memoryHigh: '2GB', memoryMax: '3GB', cpuWeight: 100, pids: 4096 },
  },
  {
    name: 'cursor-agent',
    title: 'Cursor agent',
    credentials: ['~/.config/cursor/auth.json', '~/.cursor/auth.json', '~/.cursor/mcp.json', '~/.cursor/chats'],
    state: ['~/.cursor', '~/.config/cursor', '~/.local/share/cursor-agent'],
    stateDirs: ['~/.cursor', '~/.config/cursor', '~/.local/share/cursor-agent'],
    keep: ['~/.cursor/chats', '~/.cursor/projects', '~/.config/cursor/auth.json'],
    homeFiles: [],
    binaries: ['cursor-agent'],
    keyEnv: ['CURSOR_*'],
    hosts: ['api2.cursor.sh', 'api.cursor.com', 'repo42.cursor.sh', 'downloads.cursor.com'],
    limits: { memoryHigh: '3GB', memoryMax: '4GB', cpuWeight: 100, pids: 4096 },
  },
  {
    name: 'aider',
    title: 'Aider',
    credentials: ['~/.aider/oauth-keys.env', '~/.aider.conf.yml'],
    state: ['~/.aider', '~/.aider.conf.yml', '~/.aider.model.settings.yml', '~/.aider.model.metadata.json'],
    stateDirs: ['~/.aider'],
    keep: ['~/.aider/caches', '~/.aider/analytics.json', '~/.aider/oauth-keys.env'],
    homeFiles: [],
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
    keep: ['~/.openclaw/credentials', '~/.openclaw/agents'],
    homeFiles: [],
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
    keep: ['~/.copilot/session-state', '~/.copilot/history-session-state', '~/.config/github-copilot/hosts.json', '~/.config/github-copilot/apps.json'],
    homeFiles: [],
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
    keep: ['~/.local/share/opencode/storage', '~/.local/share/opencode/auth.json', '~/.local/share/opencode/log'],
    homeFiles: [],
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
    keep: ['~/.local/share/goose/sessions', '~/.config/goose/secrets.yaml'],
    homeFiles: [],
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
    keep: ['~/.qwen/tmp', '~/.qwen/oauth_creds.json'],
    homeFiles: [],
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
    keep: ['~/.local/share/amp/threads', '~/.local/share/amp/secrets.json'],
    homeFiles: [],
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
    keep: ['~/.continue/sessions', '~/.continue/index'],
    homeFiles: [],
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
    keep: [],
    homeFiles: [],
    binaries: ['windsurf'],
    keyEnv: [],
    hosts: [],
  },
];

/** The governor's default limits for an agent session name. */
export function agentLimits(name: string): AgentLimits {
  return AGENTS.find((a) => a.name === name)?.limits ?? DEFAULT_AGENT_LIMITS;
}

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
