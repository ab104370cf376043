// Warden GitHub Action, step 3: the audit as the job summary (GITHUB_STEP_SUMMARY, Markdown;
// src/sinks/job-summary.ts) and the counts as step outputs (alerts, denials, limits).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.env.ACTION_PATH || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { jobSummary } = await import(path.join(root, 'dist/sinks/job-summary.js'));
const { parseLogLine } = await import(path.join(root, 'dist/sinks/audit-reader.js'));

const audit = process.env.INPUT_AUDIT || '';
const exitCode = /^\d+$/.test(process.env.INPUT_EXIT_CODE ?? '') ? Number(process.env.INPUT_EXIT_CODE) : undefined;
const events = [];
let bad = 0;
if (audit && fs.existsSync(audit)) {
  for (const line of fs.readFileSync(audit, 'utf8').split('\n')) {
    if (!line) continue;
    const e = parseLogLine(line);
    if (e) events.push(e);
    else bad++;
  }
}
const s = jobSummary(events, { exitCode, auditName: process.env.INPUT_ARTIFACT_NAME || undefined, badLines: bad });
let md = s.markdown;
if (!events.length) md = `## Warden: no audit\n\nThe run left no audit${audit ? ` (${audit})` : ''}: Warden did not start the command (see the step's log).\n`;
if (process.env.GITHUB_STEP_SUMMARY) fs.appendFileSync(process.env.GITHUB_STEP_SUMMARY, md + '\n');
else process.stdout.write(md + '\n');
if (process.env.GITHUB_OUTPUT) fs.appendFileSync(process.env.GITHUB_OUTPUT, `alerts=${s.counts.alerts}\ndenials=${s.counts.denials}\nlimits=${s.counts.limits}\n`);
console.log(`warden: ${s.counts.alerts} alert(s), ${s.counts.denials} denial(s), ${s.counts.limits} limit(s) hit`);
