// The C compiler the kernel-behaviour tests build their helpers with (helpers/*.c): why a test
// cannot run without one, said once for every file that needs it.
import { execFileSync } from 'node:child_process';

/** undefined when `cc` runs; otherwise the reason to print with the skip. */
export function noCompiler(): string | undefined {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'no C compiler (cc) to build the helper';
  }
}
