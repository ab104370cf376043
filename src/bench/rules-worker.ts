// Child process of the rules bench: measures, in one process pinned to one core, the
// JSON.parse-only baseline and the replay of the same file through the default ruleset
// (with the prefilter, as `warden replay --stats` runs, and --strict), and prints the
// figures as JSON on stdout. Run as: node rules-worker.js FILE MODE (parse | replay | strict).
import fs from 'node:fs';
import { loadRuleEngine } from '../rules/index.js';
import { Replayer } from '../rules/replay.js';

const CHUNK = 8 * 1024 * 1024;

function readChunks(file: string, each: (b: Buffer) => void): void {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, CHUNK, null);
    if (n <= 0) break;
    each(buf.subarray(0, n));
  }
  fs.closeSync(fd);
}

function main(): void {
  const [file, mode] = process.argv.slice(2);
  if (!file || !mode) throw new Error('usage: rules-worker FILE parse|replay|strict');
  let lines = 0;
  let alerts = 0;
  let processed = 0;
  let t0: bigint;
  let c0: NodeJS.CpuUsage;
  if (mode === 'parse') {
    // the floor for anything that reads NDJSON events: split lines and JSON.parse each
    let carry = '';
    c0 = process.cpuUsage();
    t0 = process.hrtime.bigint();
    readChunks(file, (b) => {
      const text = carry + b.toString('utf8');
      let pos = 0;
      for (;;) {
        const nl = text.indexOf('\n', pos);
        if (nl < 0) break;
        if (nl > pos) {
          JSON.parse(text.slice(pos, nl));
          lines++;
        }
        pos = nl + 1;
      }
      carry = text.slice(pos);
    });
    processed = lines;
  } else {
    const engine = loadRuleEngine({});
    const r = new Replayer(engine, (e) => {
      if (e.severity === 'alert') alerts++;
    }, { strict: mode === 'strict' });
    c0 = process.cpuUsage();
    t0 = process.hrtime.bigint();
    readChunks(file, (b) => r.push(b));
    const s = r.end();
    lines = s.lines;
    processed = s.processed;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  // events/s of CPU time: what one core does, independent of neighbours on a shared machine
  process.stdout.write(
    JSON.stringify({ mode, lines, processed, alerts, seconds, cpuSeconds, eps: lines / cpuSeconds, wallEps: lines / seconds, maxRssMb: (process.resourceUsage().maxRSS * 1024) / 1e6 }) + '\n',
  );
}

main();
