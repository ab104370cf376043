// The `warden top` screen (ink): header, agent sessions, live event stream with filters, and
// the detail, egress and help views. Plain ANSI through ink: works over ssh, no mouse. All
// state it shows comes from the TopSource; the only request that changes anything in the
// monitor is acknowledging an alert (A), on the user's request.
import React, { useEffect, useMemo, useRef, useState } from 'react';
import { Box, Text, useApp, useInput, useStdout, type Key } from 'ink';
import type { Severity, WardenEvent } from '../../events/types.js';
import { chainComplete, procLabel } from './chain.js';
import { describeFilters, isEmpty, nextAgent, nextKind, nextSeverity, type TopFilters } from './filters.js';
import { clean, clock, cut, describe, duration, procName } from './format.js';
import type { TopSource } from './source.js';
import { egressCells, layout, scrollWindow, sessionCells, sessionColumns, sessionHeader, sortSessions, streamCells } from './view.js';

type View = 'stream' | 'detail' | 'egress' | 'help';

export interface AppProps {
  source: TopSource;
  socket: string;
  initial?: TopFilters;
  /** Size when stdout is not a terminal (tests). */
  size?: { columns: number; rows: number };
}

const SEV_COLOR: Record<Severity, string | undefined> = { alert: 'red', warn: 'yellow', info: undefined };

function useSize(fallback?: { columns: number; rows: number }): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || fallback?.columns || 100, rows: stdout.rows || fallback?.rows || 30 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const on = () => {
      // A smaller window leaves old lines behind: start from a clean screen.
      if (stdout.isTTY) stdout.write('\x1b[2J\x1b[H');
      setSize(read());
    };
    stdout.on('resize', on);
    return () => {
      stdout.off('resize', on);
    };
  }, [stdout]);
  return size;
}

/** Redraws when the source changed, at most every 100 ms (a busy monitor sends thousands of events a second). */
function useTick(source: TopSource): number {
  const [tick, setTick] = useState(0);
  const dirty = useRef(true);
  useEffect(() => {
    source.onChange(() => (dirty.current = true));
    const t = setInterval(() => {
      if (!dirty.current) return;
      dirty.current = false;
      setTick((x) => x + 1);
    }, 100);
    // Uptimes advance even when nothing happens.
    const slow = setInterval(() => setTick((x) => x + 1), 1000);
    return () => {
      clearInterval(t);
      clearInterval(slow);
    };
  }, [source]);
  return tick;
}

export function App({ source, socket, initial, size: fallback }: AppProps): React.ReactElement {
  const { exit } = useApp();
  const { columns, rows } = useSize(fallback);
  useTick(source);
  const store = source.store;
  const [view, setView] = useState<View>('stream');
  const [filters, setFilters] = useState<TopFilters>(initial ?? {});
  const [selected, setSelected] = useState<number | undefined>(undefined);
  const [follow, setFollow] = useState(true);
  const [search, setSearch] = useState<{ text: string; before: string | undefined } | undefined>(undefined);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [egressTop, setEgressTop] = useState(0);
  const topRef = useRef(0);

  const events = store.filtered(filters);
  // With filters on, the sessions panel lists the sessions the filtered stream shows.
  const filtering = !isEmpty(filters);
  const inStream = filtering ? new Set(events.map((e) => e.agent?.session)) : undefined;
  const named = (s: { name: string; session: string; root_pid: number }) => filters.agent !== undefined && (s.session === filters.agent || s.name === filters.agent || String(s.root_pid) === filters.agent);
  const sessions = sortSessions(inStream ? store.sessions.filter((s) => inStream.has(s.session) || named(s)) : store.sessions);
  const lay = layout(rows, sessions.length);
  let selIndex = follow || selected === undefined ? events.length - 1 : events.findIndex((e) => e.seq >= selected);
  if (selIndex < 0) selIndex = events.length - 1;
  const current = events[selIndex];

  // Keys can arrive several in one read, before React re-renders: handlers work on `live`,
  // which each of them updates at once, not on the values captured by this render.
  const live = useRef({ events, selIndex, follow, search });
  live.current = { events, selIndex, follow, search };
  const setSearching = (v: typeof search) => {
    live.current.search = v;
    setSearch(v);
  };

  const confirmKill = useRef<string | undefined>(undefined);
  const say = (m: string) => {
    setMessage(m);
    setTimeout(() => setMessage((x) => (x === m ? undefined : x)), 4000);
  };
  const moveTo = (i: number) => {
    const l = live.current;
    if (!l.events.length) return;
    const j = Math.max(0, Math.min(l.events.length - 1, i));
    l.selIndex = j;
    setSelected(l.events[j]!.seq);
  };
  const setFollowing = (on: boolean) => {
    live.current.follow = on;
    setFollow(on);
  };
  const agentLabel = (a: string) => {
    const s = store.sessions.find((x) => x.session === a);
    return s ? `${s.name}:${s.root_pid}` : a;
  };

  // The local buffer holds recent events; an agent filter also asks the monitor for that agent's history.
  useEffect(() => {
    if (filters.agent !== undefined) void source.backfill(filters.agent);
  }, [filters.agent]);

  useEffect(() => {
    if (view === 'detail' && current?.agent && !chainComplete(store.chain(current))) void source.processHistory(current.agent.session);
  }, [view, current?.seq]);

  const handle = (input: string, key: Key): void => {
    if (key.ctrl && input === 'c') return exit();
    const searching = live.current.search;
    if (searching) {
      if (key.return || input === '\r') return setSearching(undefined);
      if (key.escape) {
        setFilters((f) => ({ ...f, text: searching.before }));
        return setSearching(undefined);
      }
      const text = key.backspace || key.delete ? searching.text.slice(0, -1) : input && !key.ctrl && !key.meta ? searching.text + input.replace(/[\x00-\x1f]/g, '') : searching.text;
      setSearching({ ...searching, text });
      setFilters((f) => ({ ...f, text: text || undefined }));
      return;
    }
    if (view === 'help') {
      setView('stream');
      if (input !== 'q') return;
    }
    if (input === 'q') return exit();
    if (input === '?' || input === 'h') return setView('help');
    if (key.escape || (view === 'detail' && (key.return || key.backspace || key.leftArrow))) {
      if (view !== 'stream') setView('stream');
      return;
    }
    if (input === 'e') return setView(view === 'egress' ? 'stream' : 'egress');
    if (view === 'egress') {
      if (key.upArrow) setEgressTop((t) => Math.max(0, t - 1));
      if (key.downArrow) setEgressTop((t) => t + 1);
      return;
    }
    const cur = live.current;
    if (key.upArrow || key.pageUp || key.home) {
      setFollowing(false);
      return moveTo(key.home ? 0 : cur.selIndex - (key.pageUp ? lay.streamRows : 1));
    }
    if (key.downArrow || key.pageDown) return moveTo(cur.selIndex + (key.pageDown ? lay.streamRows : 1));
    const here = cur.events[cur.selIndex];
    if (key.end || input === 'G') {
      setFollowing(true);
      return setSelected(undefined);
    }
    if (input === ' ') {
      if (cur.follow) {
        setFollowing(false);
        if (here) setSelected(here.seq);
        say('paused: the stream stays where it is (space or End to follow)');
      } else {
        setFollowing(true);
        setSelected(undefined);
      }
      return;
    }
    if (key.return) {
      if (here) {
        setSelected(here.seq);
        setFollowing(false);
        setView('detail');
      }
      return;
    }
    if (input === 's') return setFilters((f) => ({ ...f, severity: nextSeverity(f.severity) }));
    if (input === 'a')
      // Through every session, not only those the filtered panel shows.
      return setFilters((f) => ({ ...f, agent: nextAgent(f.agent, sortSessions(store.sessions).map((s) => s.session)) }));
    if (input === 'k') return setFilters((f) => ({ ...f, kind: nextKind(f.kind, store.kinds) }));
    if (input === '/') return setSearching({ text: filters.text ?? '', before: filters.text });
    if (input === 'c') return setFilters((f) => ({ routine: f.routine }));
    if (input === 'n') return setFilters((f) => ({ ...f, routine: !f.routine }));
    // Governor actions on the session of the agent filter, else of the selected event.
    if (input === 'F' || input === 'X' || input === '+') {
      const target = store.sessions.find((x) => x.session === filters.agent)?.session ?? here?.agent?.session;
      if (!target) return say('choose a session first (a: agent filter, or select one of its events)');
      const gov = source.governed.get(target);
      if (input === 'F') {
        void source.govern(gov?.frozen ? 'session.resume' : 'session.freeze', { session: target }).then(say);
        return;
      }
      if (input === 'X') {
        if (confirmKill.current !== target) {
          confirmKill.current = target;
          return say(`press X again to kill every process of ${agentLabel(target)}`);
        }
        confirmKill.current = undefined;
        void source.govern('session.kill', { session: target }).then(say);
        return;
      }
      if (!gov) return say(`${agentLabel(target)} is not governed`);
      // + raises both limits by a quarter; a tool paused at the limit resumes.
      void source.govern('session.limit', { session: target, memory_high: Math.round(gov.memory.high * 1.25), memory_max: Math.round(gov.memory.max * 1.25) }).then(say);
      return;
    }
    if (input === 'A') {
      if (!here || here.severity === 'info') return say('select an alert or warning to acknowledge it');
      void source.ack(here.seq).then(say);
      return;
    }
  };
  useInput((input, key) => {
    // Keys typed quickly (or pasted) can arrive as one string: handle them one by one.
    if (input.length > 1 && !key.ctrl && !key.meta) {
      for (const ch of input) handle(ch, { ...key, return: ch === '\r' || ch === '\n', backspace: ch === '\x7f' || ch === '\b', tab: ch === '\t' });
      return;
    }
    handle(input, key);
  });

  const width = Math.max(columns, 40);
  if (rows < 10 || columns < 50) {
    return <Text>{cut(`warden top: the terminal is too small (${columns}x${rows}); 50x10 at least`, width)}</Text>;
  }

  const header = <Header source={source} width={width} />;
  let body: React.ReactElement;
  if (view === 'help') body = <Help width={width} height={rows - 3} socket={socket} />;
  else if (view === 'detail' && current) body = <Detail ev={current} source={source} width={width} height={rows - 3} />;
  else if (view === 'egress') body = <Egress source={source} width={width} height={rows - 3} top={egressTop} />;
  else {
    const top = scrollWindow(events.length, lay.streamRows, selIndex, follow ? events.length : topRef.current);
    topRef.current = top;
    body = (
      <Box flexDirection="column">
        <Sessions source={source} sessions={sessions} total={store.sessions.length} width={width} height={lay.sessionRows} agentFilter={filters.agent} />
        <Text bold>
          {cut(`── Events (${events.length}${store.all().length !== events.length ? ` of ${store.all().length}` : ''}) · ${describeFilters(filters, agentLabel)}${follow ? ' · live' : ' · paused'} `, width).padEnd(width, '─')}
        </Text>
        <Stream events={events.slice(top, top + lay.streamRows)} selected={current?.seq} width={width} height={lay.streamRows} acked={store.acked} empty={isEmpty(filters) ? 'no events yet: waiting for agents (start one, or run `warden demo`)' : 'no events match the filters (c clears them)'} />
      </Box>
    );
  }
  const footer = search ? (
    <Text>
      <Text color="cyan">/ search: </Text>
      {search.text}
      <Text inverse> </Text>
      <Text dimColor>  Enter keep · Esc cancel</Text>
    </Text>
  ) : message ? (
    <Text color="cyan">{cut(message, width)}</Text>
  ) : (
    <Text dimColor>{cut(footerKeys(view), width)}</Text>
  );
  return (
    <Box flexDirection="column" width={width} height={rows - 1}>
      {header}
      <Box flexDirection="column" flexGrow={1}>
        {body}
      </Box>
      {footer}
    </Box>
  );
}

function footerKeys(view: View): string {
  if (view === 'detail') return 'Esc back · ↑↓ previous/next event · A acknowledge · q quit';
  if (view === 'egress') return 'e/Esc back · ↑↓ scroll · q quit';
  return '? help · ↑↓ select · Enter detail · s severity · a agent · k kind · / search · c clear · n routine · e egress · F freeze · X kill · + limit · q quit';
}

function Header({ source, width }: { source: TopSource; width: number }): React.ReactElement {
  const st = source.status;
  const stats = source.store.stats;
  const alerts = source.store.sessions.reduce((n, s) => n + (s.counts.alert ?? 0), 0);
  const warns = source.store.sessions.reduce((n, s) => n + (s.counts.warn ?? 0), 0);
  const alive = source.store.sessions.filter((s) => s.alive).length;
  const narrow = width < 110;
  const left = st.connected
    ? narrow
      ? `warden top · pid ${st.monitorPid} · ${alive}/${source.store.sessions.length} sessions · ${stats.events ?? source.store.received} ev`
      : `warden top · monitor pid ${st.monitorPid} · ${alive} running / ${source.store.sessions.length} sessions · ${stats.events ?? source.store.received} events`
    : `warden top · DISCONNECTED: ${st.error ?? 'monitor gone'} · retrying`;
  const lost = (stats.lost ?? 0) + source.store.dropped;
  return (
    <Text wrap="truncate">
      <Text bold color={st.connected ? 'green' : 'red'}>
        {cut(left, Math.max(10, width - (narrow ? 28 : 36)))}
      </Text>
      <Text> · </Text>
      <Text color={alerts ? 'red' : undefined} bold={alerts > 0}>
        {alerts} alerts
      </Text>
      <Text> · </Text>
      <Text color={warns ? 'yellow' : undefined}>{warns} warnings</Text>
      {lost > 0 ? <Text color="red"> · {lost} lost</Text> : null}
    </Text>
  );
}

function Sessions({ source, sessions, total, width, height, agentFilter }: { source: TopSource; sessions: ReturnType<typeof sortSessions>; total: number; width: number; height: number; agentFilter?: string }): React.ReactElement {
  const c = sessionColumns(width);
  const shown = sessions.slice(0, sessions.length > height ? height - 1 : height);
  const count = sessions.length === total ? `${total}` : `${sessions.length} of ${total}, those in the filtered stream`;
  return (
    <Box flexDirection="column">
      <Text bold>{cut(`── Agent sessions (${count}) `, width).padEnd(width, '─')}</Text>
      <Text dimColor>{cut(sessionHeader(c), width)}</Text>
      {total === 0 ? <Text dimColor>{cut('  no agent sessions yet (claude, codex, gemini, cursor-agent, aider, … are found when they start)', width)}</Text> : null}
      {shown.map((s) => {
        const cells = sessionCells(s, c, source.memory.get(s.root_pid), Date.now(), source.governed.get(s.session));
        const mark = agentFilter === s.session || agentFilter === s.name ? '▶ ' : '  ';
        return (
          <Text key={s.session} dimColor={!s.alive} wrap="truncate">
            {mark}
            <Text bold>{cells.tool}</Text> {cells.pid} {cells.up} {cells.mem} <Text color={s.counts.alert ? 'red' : undefined}>{cells.alert}</Text>{' '}
            <Text color={s.counts.warn ? 'yellow' : undefined}>{cells.warn}</Text> {cells.info} {cells.state} {cells.cwd}
          </Text>
        );
      })}
      {sessions.length > shown.length ? <Text dimColor>{`  … ${sessions.length - shown.length} more (a cycles the agent filter)`}</Text> : null}
    </Box>
  );
}

function Stream({ events, selected, width, height, acked, empty }: { events: WardenEvent[]; selected?: number; width: number; height: number; acked: Set<number>; empty: string }): React.ReactElement {
  if (!events.length)
    return (
      <Box height={height}>
        <Text dimColor>{cut('  ' + empty, width)}</Text>
      </Box>
    );
  return (
    <Box flexDirection="column" height={height}>
      {events.map((ev) => {
        const c = streamCells(ev, width, acked.has(ev.seq));
        const sel = ev.seq === selected;
        return (
          <Text key={ev.seq} inverse={sel} wrap="truncate">
            {sel ? '▶ ' : '  '}
            {c.time} <Text color={SEV_COLOR[ev.severity]} bold={ev.severity === 'alert'} dimColor={ev.severity === 'info'}>{c.sev}</Text> <Text color="cyan">{c.agent}</Text> {c.text}
          </Text>
        );
      })}
    </Box>
  );
}

function Detail({ ev, source, width, height }: { ev: WardenEvent; source: TopSource; width: number; height: number }): React.ReactElement {
  const store = source.store;
  const chain = useMemo(() => store.chain(ev), [ev.seq, store.version]);
  const touched = store.touched(ev, 10);
  const lines: Array<{ text: string; color?: string; bold?: boolean; dim?: boolean }> = [];
  const sevLabel = ev.severity.toUpperCase();
  lines.push({ text: `${sevLabel}  ${ev.rule ?? ev.kind}${ev.category ? `  ${ev.category}` : ''}${ev.mitre?.length ? `  ${ev.mitre.join(' ')}` : ''}${store.acked.has(ev.seq) ? '  (acknowledged)' : ''}`, color: SEV_COLOR[ev.severity], bold: true });
  lines.push({ text: clean(describe(ev)) });
  lines.push({ text: `seq ${ev.seq} · ${ev.ts} (${clock(ev.ts)}) · kind ${ev.kind}${ev.agent ? ` · ${ev.agent.name} session ${ev.agent.session}` : ''}${ev.sandbox ? ` · sandbox ${ev.sandbox.id}` : ''}`, dim: true });
  if (ev.also?.length) lines.push({ text: `also matched: ${ev.also.join(', ')}`, dim: true });
  lines.push({ text: '' });
  if (chain.length) {
    lines.push({ text: 'Process chain (agent → … → the process that acted):', bold: true });
    chain.forEach((l, i) => {
      const indent = i === 0 ? '  ' : '  ' + '   '.repeat(i - 1) + '└─ ';
      // Tags first: long command lines are cut at the right edge.
      const tag = `${l.root ? '[agent] ' : ''}${l.actor ? '[acted] ' : ''}`;
      lines.push({ text: `${indent}${l.pid}  ${tag}${clean(procLabel(l.proc, width))}`, color: l.actor ? SEV_COLOR[ev.severity] : undefined });
    });
    if (!chainComplete(chain)) lines.push({ text: '  (earlier processes not seen: started before the monitor or outside its memory; asked the API for history)', dim: true });
    if (ev.proc) lines.push({ text: `  cwd ${clean(ev.proc.cwd)} · uid ${ev.proc.uid} · exe ${clean(ev.proc.exe)}`, dim: true });
    lines.push({ text: '' });
  }
  const what = targetLines(ev);
  if (what.length) {
    lines.push({ text: 'What it touched:', bold: true });
    for (const w of what) lines.push({ text: '  ' + w });
  }
  const steps = Array.isArray(ev.data?.steps) ? (ev.data!.steps as Array<Record<string, unknown>>) : [];
  if (steps.length) {
    lines.push({ text: `Sequence (${steps.length} steps):`, bold: true });
    for (const s of steps) lines.push({ text: `  ${String(s.step ?? '')}: ${stepText(s)}` });
  }
  if (touched.length) {
    lines.push({ text: 'Around it, by the same process and what it started:', bold: true });
    for (const t of touched) lines.push({ text: `  ${clock(t.ts)} ${t.severity === 'info' ? '    ' : t.severity.toUpperCase().padEnd(5)} ${procName(t)}[${t.proc?.pid}] ${describe(t)}`, color: SEV_COLOR[t.severity] });
  }
  return (
    <Box flexDirection="column" height={height}>
      {lines.slice(0, height).map((l, i) => (
        <Text key={i} color={l.color} bold={l.bold} dimColor={l.dim} wrap="truncate">
          {cut(l.text, width) || ' '}
        </Text>
      ))}
    </Box>
  );
}

function targetLines(ev: WardenEvent): string[] {
  const out: string[] = [];
  if (ev.file) out.push(`file ${ev.file.op}  ${clean(ev.file.path)}${ev.file.src ? `  (from ${clean(ev.file.src)})` : ''}${ev.file.target ? `  → ${clean(ev.file.target)}` : ''}${ev.file.ret !== undefined && ev.file.ret < 0 ? `  (failed: ${ev.file.ret})` : ''}`);
  if (ev.net) {
    const n = ev.net;
    const dst = n.path ?? `${n.host ? `${n.host} ` : ''}${n.dst_ip ?? n.local_ip ?? ''}${(n.dst_port ?? n.local_port) !== undefined ? `:${n.dst_port ?? n.local_port}` : ''}`;
    out.push(`network ${n.proto}  ${clean(dst)}`);
  }
  if (ev.dns) out.push(`dns ${ev.dns.qtype} ${clean(ev.dns.query)}${ev.dns.answers?.length ? ` → ${ev.dns.answers.join(', ')}` : ''}${ev.dns.rcode ? ` (${ev.dns.rcode})` : ''}`);
  if (ev.kind === 'process.exec' && ev.proc) out.push(`ran  ${clean(ev.proc.argv.join(' '))}`);
  if (ev.exit) out.push(`exit code ${ev.exit.code}${ev.exit.signal ? ` signal ${ev.exit.signal}` : ''}${ev.exit.duration_ms !== undefined ? ` after ${duration(ev.exit.duration_ms)}` : ''}`);
  return out;
}

function stepText(s: Record<string, unknown>): string {
  const parts: string[] = [String(s.kind ?? '')];
  if (typeof s.rule === 'string') parts.push(s.rule);
  const f = s.file as { path?: string; op?: string } | undefined;
  if (f?.path) parts.push(`${f.op ?? ''} ${f.path}`);
  const n = s.net as { host?: string; dst_ip?: string; dst_port?: number } | undefined;
  if (n && (n.host || n.dst_ip)) parts.push(`${n.host ?? n.dst_ip}${n.dst_port !== undefined ? `:${n.dst_port}` : ''}`);
  const d = s.dns as { query?: string } | undefined;
  if (d?.query) parts.push(d.query);
  const p = s.proc as { argv?: string[]; pid?: number } | undefined;
  if (p?.argv) parts.push(`by ${p.argv.join(' ')} [${p.pid}]`);
  return clean(parts.join('  '));
}

function Egress({ source, width, height, top }: { source: TopSource; width: number; height: number; top: number }): React.ReactElement {
  const rows = source.store.egress.list();
  const visible = Math.max(1, height - 3);
  const start = Math.max(0, Math.min(top, rows.length - visible));
  return (
    <Box flexDirection="column" height={height}>
      <Text bold>{cut(`── Egress (${rows.length} destinations): sandboxes (warden run: allowed/denied by the proxy) and agents (watched connections) `, width).padEnd(width, '─')}</Text>
      <Text dimColor>{cut(`  ${'OWNER'.padEnd(28)} ${'DESTINATION'.padEnd(28)} ${'PORTS'.padEnd(10)} ${'VERDICTS'.padEnd(18)} LAST REASON`, width)}</Text>
      {rows.length === 0 ? <Text dimColor>{cut('  no network activity yet (egress decisions of `warden run` sandboxes and connections of watched agents appear here)', width)}</Text> : null}
      {rows.slice(start, start + visible).map((r) => (
        <Text key={`${r.scope}|${r.owner}|${r.dest}`} color={r.denied > 0 ? 'red' : r.scope === 'sandbox' ? 'green' : undefined} wrap="truncate">
          {egressCells(r, width)}
        </Text>
      ))}
    </Box>
  );
}

function Help({ width, height, socket }: { width: number; height: number; socket: string }): React.ReactElement {
  const lines = [
    'warden top — live view of the agents Warden monitors (reads the monitor API; changes nothing unless you press A, F, X or +)',
    '',
    '  ↑ ↓ PgUp PgDn Home   move in the event stream (moving up pauses it)',
    '  End, G, space        follow the live stream again (space also pauses)',
    '  Enter                detail of the selected event: process chain, what it touched, sequence steps',
    '  Esc                  back to the stream',
    '  s                    severity filter: all → warn and up → alert → all',
    '  a                    agent filter: all → each session → all',
    '  k                    kind filter: all → process → file → net → agent → alert → egress → sandbox → …',
    '  /                    search text (paths, commands, hosts, rules); Enter keeps it, Esc cancels',
    '  c                    clear every filter',
    '  n                    show/hide routine events (library and locale loads, forks): hidden by default',
    '  e                    egress view: hosts allowed/denied per sandbox, destinations per agent',
    '  A                    acknowledge the selected alert (recorded as an alert.ack event)',
    '  F                    freeze / resume the session (agent filter, else the selected event\'s)',
    '  X X                  kill every process of that session (press twice)',
    '  +                    raise that session\'s memory limits by a quarter (a paused tool resumes)',
    '  ?                    this help (any key closes it)',
    '  q, Ctrl-C            quit',
    '',
    `Monitor API: ${socket}`,
    'Memory is the session cgroup\'s usage against its soft limit when the governor has one, else the tree\'s resident memory.',
  ];
  return (
    <Box flexDirection="column" height={height}>
      {lines.slice(0, height).map((l, i) => (
        <Text key={i} bold={i === 0} wrap="truncate">
          {cut(l, width) || ' '}
        </Text>
      ))}
    </Box>
  );
}
