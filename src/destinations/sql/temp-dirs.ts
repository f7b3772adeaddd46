import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Folders of staged rows, in the OS temp folder: `iterable-sync-<pid>-<kind>-XXXXXX`. */
const NAME = /^iterable-sync-(\d+)-[a-z]+-/;
let swept = false;

/**
 * A new folder for a load's temporary files (removed by the load). The first call of a process
 * also removes the folders of processes that no longer run (a sync killed mid-window leaves its
 * staged rows behind).
 */
export function makeTempDir(kind: 'stage'): string {
  if (!swept) {
    swept = true;
    removeStaleTempDirs();
  }
  return mkdtempSync(join(tmpdir(), `iterable-sync-${process.pid}-${kind}-`));
}

function removeStaleTempDirs(): void {
  removeTempDirsOf((pid) => pid !== process.pid && !isRunning(pid));
}

/** Removes the temp folders of the processes `ofPid` picks (errors ignored: someone else's, or gone already). */
function removeTempDirsOf(ofPid: (pid: number) => boolean): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(NAME.exec(name)?.[1] ?? Number.NaN);
    if (!Number.isInteger(pid) || !ofPid(pid)) continue;
    try {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    } catch {
      // someone else's, or gone already
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes every temp folder of this process (synchronously, so it also works on the way out of
 * a process that exits at once). Loads remove their own; this catches what a stop left behind.
 */
export function removeOwnTempDirs(): void {
  removeTempDirsOf((pid) => pid === process.pid);
}
