// `warden replay FILE`: runs recorded events through the rules and writes the classified
// events (or only statistics). Reads with fixed-size buffers, so memory stays flat whatever
// the file size; malformed lines are counted and reported, never fatal.
import fs from 'node:fs';
import { configSource, loadWatchConfig } from '../config/watch-config.js';
import { Dispatcher } from '../events/dispatcher.js';
import type { Severity, UnstampedEvent } from '../events/types.js';
import { loadRuleEngine } from '../rules/index.js';
import { Replayer, type ReplayStats } from '../rules/replay.js';
import { NdjsonFileSink } from '../sinks/ndjson-file.js';

export interface ReplayCliOptions {
  config?: string;
  rules?: string[];
  defaults?: boolean;
  output?: string;
  minSeverity?: string;
  stats?: boolean;
  json?: boolean;
  strict?: boolean;
}

const CHUNK = 8 * 1024 * 1024;

export async function runReplay(file: string, opts: ReplayCliOptions): Promise<number> {
  const cfg = loadWatchConfig(opts.config);
  const engine = loadRuleEngine({
    defaults: opts.defaults !== false,
    files: [...cfg.rules.files /* absolute: loadWatchConfig resolves them against the config's directory */, ...(opts.rules ?? [])],
    packs: cfg.rules.packs,
    disable: cfg.rules.disable,
    networkAllow: cfg.network.allow,
    config: configSource(cfg),
  });
  const minSeverity = (opts.minSeverity ?? cfg.rules.min_severity ?? 'info') as Severity;
  const outFile = opts.output ?? (opts.stats ? undefined : '-');

  let fd: number;
  if (file === '-') fd = 0;
  else {
    try {
      fd = fs.openSync(file, 'r');
      if (fs.fstatSync(fd).isDirectory()) {
        fs.closeSync(fd);
        throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      }
    } catch (err) {
      process.stderr.write(`warden replay: cannot open ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return 1;
    }
  }

  const dispatcher = new Dispatcher();
  let sink: NdjsonFileSink | undefined;
  // The sink never throws (it retries, as the monitor's audit log must): a replay that could not
  // write its output has to say so and fail instead of exiting 0 with nothing written.
  let writeError: Error | undefined;
  if (outFile) {
    sink = new NdjsonFileSink(outFile, {
      minSeverity,
      flushIntervalMs: 1000,
      maxBufferBytes: 1 << 20,
      onError: (err, what) => {
        if (what === 'open' || what === 'write') writeError ??= err;
      },
    });
    if (writeError) {
      await sink.close().catch(() => undefined);
      if (fd !== 0) fs.closeSync(fd);
      process.stderr.write(`warden replay: cannot write ${outFile}: ${(writeError as NodeJS.ErrnoException).code ?? writeError.message}\n`);
      return 1;
    }
    dispatcher.addSink(sink);
  }
  const bySeverity: Record<Severity, number> = { info: 0, warn: 0, alert: 0 };
  const emit = (e: UnstampedEvent) => {
    bySeverity[e.severity]++;
    if (sink) dispatcher.emit(e);
  };
  // Writing every event needs every line parsed; counting or writing only warn+ does not.
  const strict = opts.strict === true || (outFile !== undefined && minSeverity === 'info');
  const replayer = new Replayer(engine, emit, { strict });

  const t0 = process.hrtime.bigint();
  let bytes = 0;
  if (fd === 0) {
    for await (const chunk of process.stdin) {
      bytes += (chunk as Buffer).length;
      replayer.push(chunk as Buffer);
    }
  } else {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n <= 0) break;
      bytes += n;
      replayer.push(buf.subarray(0, n));
    }
    fs.closeSync(fd);
  }
  const stats = replayer.end();
  await dispatcher.close();
  if (writeError) {
    process.stderr.write(`warden replay: writing ${outFile} failed: ${writeError.message}\n`);
    return 1;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

  if (opts.stats) report(stats, engine.stats(), bySeverity, seconds, bytes, replayer.prefiltering, opts.json === true);
  else if (stats.malformed > 0) {
    process.stderr.write(`warden replay: ${stats.malformed} malformed line(s) skipped; first: line ${stats.samples[0]?.line}: ${stats.samples[0]?.error}\n`);
  }
  return 0;
}

function report(
  s: ReplayStats,
  engineStats: Record<string, number>,
  bySeverity: Record<Severity, number>,
  seconds: number,
  bytes: number,
  prefiltered: boolean,
  json: boolean,
): void {
  const rss = process.resourceUsage().maxRSS * 1024;
  const perRule = Object.entries(engineStats)
    .filter(([k]) => k.startsWith('rule.'))
    .sort((a, b) => b[1] - a[1]);
  const out = {
    lines: s.lines,
    processed: s.processed,
    skipped_by_prefilter: s.skipped,
    prefilter: prefiltered,
    malformed: s.malformed,
    malformed_samples: s.samples,
    derived_dropped: s.derivedDropped,
    events_out: s.emitted,
    alerts: bySeverity.alert,
    warnings: bySeverity.warn,
    sequences_fired: engineStats['sequences_fired'] ?? 0,
    thresholds_fired: engineStats['thresholds_fired'] ?? 0,
    rule_errors: engineStats['errors'] ?? 0,
    seconds: Number(seconds.toFixed(3)),
    events_per_second: Math.round(s.lines / Math.max(seconds, 1e-9)),
    mb_per_second: Number((bytes / 1e6 / Math.max(seconds, 1e-9)).toFixed(1)),
    peak_rss_mb: Number((rss / 1e6).toFixed(1)),
    rules: Object.fromEntries(perRule.map(([k, v]) => [k.slice(5), v])),
  };
  if (json) {
    process.stderr.write(JSON.stringify(out) + '\n');
    return;
  }
  const w = (l: string) => process.stderr.write(l + '\n');
  w(`lines            ${out.lines}  (${out.processed} parsed, ${out.skipped_by_prefilter} skipped by prefilter${prefiltered ? '' : ': off'})`);
  w(`malformed        ${out.malformed}${s.samples.length ? `  first: line ${s.samples[0]!.line}: ${s.samples[0]!.error}` : ''}`);
  if (out.derived_dropped) w(`derived dropped  ${out.derived_dropped}  (alert.sequence/rule.error from the recording; re-derived)`);
  w(`alerts           ${out.alerts}   warnings ${out.warnings}   sequences ${out.sequences_fired}   thresholds ${out.thresholds_fired}   rule errors ${out.rule_errors}`);
  w(`time             ${out.seconds} s   ${out.events_per_second} events/s   ${out.mb_per_second} MB/s   peak RSS ${out.peak_rss_mb} MB`);
  if (perRule.length) {
    w('top rules');
    for (const [k, v] of perRule.slice(0, 15)) w(`  ${String(v).padStart(9)}  ${k.slice(5)}`);
  }
}
