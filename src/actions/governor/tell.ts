// Telling the agent: a line on the standard error of the tool Warden acted on. An agent reads
// its tools' output, so this is where it learns that its test run was paused or killed and
// why, in words it can act on. Opened without blocking, never on a terminal Warden does not
// know: a stderr that is a socket or a full pipe is skipped, not waited for.
import fs from 'node:fs';

export function tellTool(pid: number, message: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(`/proc/${pid}/fd/2`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY | fs.constants.O_APPEND);
    fs.writeSync(fd, `\nwarden: ${message.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?')}\n`);
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
