// The list of subcommands. Add a module under commands/ and one line here.
import type { Command } from 'commander';
import { doctorCommand } from './doctor.js';
import { replayCommand } from './replay.js';
import { watchCommand } from './watch.js';

export const commands: Array<() => Command> = [watchCommand, replayCommand, doctorCommand];
