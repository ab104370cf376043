// Benign developer sessions run by a stub agent (argv[0] `claude`) under the real `warden watch`
// in the disposable namespaces of atomics-harness.ts (loopback only, every system directory an
// overlay): version-manager shims, npm ci and tests, pip install -e and pytest, cargo, git with
// hooks and a rebase, make and make clean, archives, a local docs server, an editor's language
// server, direnv, and the start-up of the real agent CLIs of test/agents (Claude Code, Codex,
// Gemini CLI, pinned in test/agents/package.json, installed by scripts/setup.sh, run here with no
// network). A session whose tools are absent is skipped with the reason. The recordings of these
// sessions are the benign corpus fixtures (test/fixtures/benign/) that every rule change replays.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const AGENTS_BIN = path.join(ROOT, 'test', 'agents', 'node_modules', '.bin');
const TSSERVER = path.join(ROOT, 'node_modules', 'typescript', 'lib', 'tsserver.js');

export interface BenignSession {
  name: string;
  /** What a developer does (for the README table). */
  what: string;
  /** Shell checks that must pass, else the session is skipped (the tool is not installed here). */
  needs?: string[];
  /** Set-up run before the agent starts (not attributed to it). */
  prepare?: string;
  /** The session: bash run by the stub agent in its project directory. */
  script: string;
  timeout?: number;
}

/** The git + npm session of issue #3 (clone, npm ci, tests, edits, commit, ssh-agent). */
export const GIT_NPM_SESSION: BenignSession = {
  name: 'git-npm-edit',
  what: 'git clone of a local repository, npm ci from a local tarball, npm test, edits, commit, ssh-agent + ssh-add',
  prepare: `set -e
mkdir -p /srv/warden-benign && cd /srv/warden-benign
mkdir -p dep && cd dep
printf '{"name":"warden-dep","version":"1.0.0","main":"index.js"}\\n' > package.json
printf 'exports.twice = (x) => 2 * x;\\n' > index.js
npm pack --silent >/dev/null 2>&1
cd ..
mkdir -p work && cd work
git init -q -b main
mkdir src test
printf 'export const add = (a, b) => { return a + b; };\\n' > src/math.js
printf 'import test from "node:test";\\nimport assert from "node:assert";\\nimport { add } from "../src/math.js";\\ntest("add", () => assert.equal(add(1, 2), 3));\\n' > test/math.test.js
printf '{"name":"app","version":"1.0.0","type":"module","scripts":{"test":"node --test test/"},"dependencies":{"warden-dep":"file:/srv/warden-benign/dep/warden-dep-1.0.0.tgz"}}\\n' > package.json
npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1
rm -rf node_modules
git add -A && git -c user.name=t -c user.email=t@example.invalid commit -qm init
git clone -q --bare . ../app.git
rm -f /root/.ssh/id_ed25519 /root/.ssh/id_ed25519.pub
ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
`,
  script: `set -e
git clone -q /srv/warden-benign/app.git app
cd app
git log --oneline -3 > /dev/null
npm ci --offline --no-audit --no-fund --loglevel=error
npm test > /dev/null
sed -i 's/return a + b/return b + a/' src/math.js
printf 'export const sub = (a, b) => a - b;\\n' > src/sub.js
ls -la src > /dev/null
cat package.json > /dev/null
grep -rn export src > /dev/null
git add -A
git -c user.name=agent -c user.email=agent@example.invalid commit -qm 'Edit math'
git status --short > /dev/null
eval "$(ssh-agent -s)" > /dev/null
ssh-add -q ~/.ssh/id_ed25519
ssh-add -l > /dev/null
ssh-agent -k > /dev/null
`,
};

export const DEFAULT_SESSIONS: BenignSession[] = [GIT_NPM_SESSION];

/** The warnings of the benign sessions a reviewer would call right (no other warning, and no alert, is expected). */
export const EXPECTED_WARNINGS: Record<string, string[]> = {
  direnv: ['persist_direnv_allow'], // `direnv allow`: the .envrc now runs in every shell that enters the project
};

const PY_PROJECT = `mkdir -p src/calc tests
printf '[build-system]\\nrequires = ["setuptools"]\\nbuild-backend = "setuptools.build_meta"\\n[project]\\nname = "calc"\\nversion = "0.1.0"\\n[tool.setuptools.packages.find]\\nwhere = ["src"]\\n' > pyproject.toml
printf 'def add(a, b):\\n    return a + b\\n' > src/calc/__init__.py
printf 'from calc import add\\n\\ndef test_add():\\n    assert add(1, 2) == 3\\n' > tests/test_calc.py`;

export const BENIGN_SESSIONS: BenignSession[] = [
  GIT_NPM_SESSION,
  {
    name: 'pyenv-python',
    what: 'python3 through pyenv shims (version, one-liners, a venv, pip), env | grep, ps aux',
    needs: ['test -x /root/.pyenv/shims/python3'],
    script: `set -e
export PYENV_ROOT=/root/.pyenv PATH=/root/.pyenv/shims:/root/.pyenv/bin:$PATH
python3 --version
python3 -c 'import sys, os; print(sys.version_info[:2], os.getcwd())'
python3 -c 'import json; print(json.dumps({"ok": True}))'
python3 -m venv .venv
.venv/bin/python -c 'print("venv ok")'
.venv/bin/pip --version
pyenv versions > /dev/null
env | grep PATH > /dev/null
ps aux | grep python > /dev/null || true
which python3`,
  },
  {
    name: 'pip-editable-pytest',
    what: 'a local package: python3 -m venv, pip install -e . (no index), pytest',
    needs: ['/usr/bin/python3 -c "import pytest, setuptools"'],
    script: `set -e
${PY_PROJECT}
/usr/bin/python3 -m venv --system-site-packages .venv
. .venv/bin/activate
pip install -q --no-index --no-build-isolation -e .
python -m pytest -q
deactivate`,
  },
  {
    name: 'direnv',
    what: 'direnv: .envrc written, allowed, loaded',
    needs: ['command -v direnv'],
    script: `set -e
echo 'export APP_MODE=dev' > .envrc
direnv allow .
direnv exec . sh -c 'test "$APP_MODE" = dev'`,
  },
  {
    name: 'make-c',
    what: 'make (a C program into build/), run it, make clean (rm -rf build)',
    script: `set -e
mkdir -p src
printf '#include <stdio.h>\\nint main(void) { puts("hello"); return 0; }\\n' > src/hello.c
printf 'build/hello: src/hello.c\\n\\tmkdir -p build/obj\\n\\tcc -c -o build/obj/hello.o src/hello.c\\n\\tcc -o build/hello build/obj/hello.o\\nclean:\\n\\trm -rf build\\n' > Makefile
make -s
./build/hello
make -s clean
make -s
make -s clean`,
  },
  {
    name: 'archives',
    what: 'tar czf / xzf, zip -r / unzip, gzip -k',
    script: `set -e
mkdir -p data && for i in 1 2 3; do echo "row $i" > data/$i.csv; done
tar czf data.tgz data
mkdir -p out && tar xzf data.tgz -C out
zip -qr data.zip data
unzip -qo data.zip -d out2
gzip -k data/1.csv
tar cJf data.txz data && tar xJf data.txz -C out`,
  },
  {
    name: 'docs-server',
    what: 'python3 -m http.server --bind 127.0.0.1 for docs, fetched with curl',
    script: `set -e
mkdir -p docs && echo '<h1>docs</h1>' > docs/index.html
cd docs
python3 -m http.server --bind 127.0.0.1 8123 > /dev/null 2>&1 &
for i in $(seq 1 50); do curl -sf http://127.0.0.1:8123/ > /dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:8123/index.html > /dev/null
kill %1`,
  },
  {
    name: 'git-hooks-rebase',
    what: 'git init, pre-commit install (a local hook), commits that run it, a branch, a rebase',
    needs: ['command -v pre-commit'],
    script: `set -e
git init -q -b main
git config user.name dev && git config user.email dev@example.invalid
printf 'repos:\\n- repo: local\\n  hooks:\\n  - id: check-text\\n    name: check text\\n    entry: "true"\\n    language: system\\n    files: txt$\\n' > .pre-commit-config.yaml
echo one > a.txt
git add -A && git commit -qm one
pre-commit install
echo two >> a.txt && git commit -qam two
git checkout -qb feature
echo three > b.txt && git add b.txt && git commit -qm three
git checkout -q main
echo four >> a.txt && git commit -qam four
git checkout -q feature
git rebase -q main
git log --oneline > /dev/null`,
  },
  {
    name: 'cargo',
    what: 'cargo new, cargo build --offline, cargo run, cargo test',
    needs: ['test -x /root/.cargo/bin/cargo'],
    script: `set -e
export PATH=/root/.cargo/bin:$PATH
cargo new -q --vcs none hello
cd hello
cargo build -q --offline
cargo run -q --offline
cargo test -q --offline`,
    timeout: 180,
  },
  {
    name: 'tsserver',
    what: "an editor's language server: tsserver opens a file, reports errors, completes, exits",
    needs: [`test -f ${TSSERVER}`],
    script: `set -e
printf '{"compilerOptions":{"strict":true}}\\n' > tsconfig.json
printf 'export const n: number = 1;\\nconsole.log(n.toFix);\\n' > a.ts
F="$PWD/a.ts"
{ printf '{"seq":1,"type":"request","command":"open","arguments":{"file":"%s"}}\\n' "$F"
  printf '{"seq":2,"type":"request","command":"geterr","arguments":{"files":["%s"],"delay":0}}\\n' "$F"
  printf '{"seq":3,"type":"request","command":"completionInfo","arguments":{"file":"%s","line":2,"offset":15}}\\n' "$F"
  sleep 4
  printf '{"seq":4,"type":"request","command":"exit"}\\n'; } | node ${TSSERVER} --disableAutomaticTypingAcquisition > tsserver.log`,
  },
  {
    name: 'claude-code-startup',
    what: 'Claude Code (npm @anthropic-ai/claude-code, pinned) starting with no network: --version, a prompt that cannot reach the API',
    needs: [`test -x ${AGENTS_BIN}/claude`],
    script: `${AGENTS_BIN}/claude --version
timeout 25 ${AGENTS_BIN}/claude -p 'list the files here' < /dev/null || true`,
  },
  {
    name: 'codex-startup',
    what: 'Codex CLI (npm @openai/codex, pinned) starting with no network: --version, exec that cannot reach the API',
    needs: [`test -x ${AGENTS_BIN}/codex`],
    script: `${AGENTS_BIN}/codex --version
timeout 25 ${AGENTS_BIN}/codex exec --skip-git-repo-check 'list the files here' < /dev/null || true`,
  },
  {
    name: 'gemini-cli-startup',
    what: 'Gemini CLI (npm @google/gemini-cli, pinned) starting with no network: --version, a prompt that cannot reach the API',
    needs: [`test -x ${AGENTS_BIN}/gemini`],
    script: `${AGENTS_BIN}/gemini --version
timeout 25 ${AGENTS_BIN}/gemini -p 'list the files here' < /dev/null || true`,
  },
];
