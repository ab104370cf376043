// The list of subcommands. Add a module under commands/ and one line here.
import type { Command } from 'commander';
import { demoCommand } from './demo.js';
import { doctorCommand } from './doctor.js';
import { eventsCommand } from './events.js';
import { governorCommand, resumeCommand } from './governor.js';
import { replayCommand } from './replay.js';
import { rulesCommand } from './rules.js';
import { runCommand } from './run.js';
import { serviceCommand } from './service.js';
import { superviseCommand } from './supervise.js';
import { topCommand } from './top.js';
import { watchCommand } from './watch.js';

export const commands: Array<() => Command> = [watchCommand, runCommand, superviseCommand, replayCommand, rulesCommand, doctorCommand, eventsCommand, serviceCommand, topCommand, demoCommand, resumeCommand, governorCommand];
