/**
 * An exclusive lock on a directory, for commands that write a run into it.
 *
 * The lock is a file (`.avgk.lock`) created with `wx` (O_CREAT | O_EXCL), holding the owner's pid,
 * host, process start time and command. A lock whose owner is gone (no such pid on this host, or a
 * pid that now belongs to a process started at another time) is stale and is taken over; a lock
 * held by a live process is a {@link LockHeldError} naming the pid. The lock is released by
 * `release()` and, should the process exit without it, by an exit handler.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Name of the lock file inside the locked directory. */
export const LOCK_FILE = '.avgk.lock';

/** A lock file younger than this that cannot be parsed is one being written, not a stale one. */
const FRESH_MS = 10_000;

interface LockInfo {
  pid: number;
  host: string;
  /** Start time of the process (Linux: /proc/<pid>/stat field 22), to tell a reused pid apart. */
  start: string | null;
  token: string;
  command: string;
  time: string;
}

/** The directory is locked by another live process. */
export class LockHeldError extends Error {
  constructor(
    message: string,
    readonly lockPath: string,
    readonly pid: number | null,
  ) {
    super(message);
    this.name = 'LockHeldError';
  }
}

export interface DirLock {
  readonly path: string;
  /** Removes the lock file (when it is still this lock's). Idempotent. */
  release(): void;
}

/** Whether a process with this pid exists (EPERM: it exists but belongs to another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Start time of a process in clock ticks since boot, or null where /proc is not available. */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is parenthesised and may contain spaces: count from its end
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function parseLock(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v !== 'object' || v === null || !Number.isSafeInteger(v.pid)) return null;
    return { pid: v.pid!, host: String(v.host ?? ''), start: typeof v.start === 'string' ? v.start : null, token: String(v.token ?? ''), command: String(v.command ?? ''), time: String(v.time ?? '') };
  } catch {
    return null;
  }
}

/** Whether the owner of a lock is still running (unknown hosts count as running). */
function ownerAlive(info: LockInfo): boolean {
  if (info.host !== hostname()) return true;
  if (!pidAlive(info.pid)) return false;
  if (info.start !== null) {
    const now = processStart(info.pid);
    if (now !== null && now !== info.start) return false;
  }
  return true;
}

function heldMessage(dir: string, info: LockInfo | null, lockPath: string): string {
  if (info === null) return `${dir} is locked by another process that is starting (${lockPath}); try again in a moment`;
  const where = info.host !== hostname() ? ` on host ${info.host}` : '';
  const what = info.command ? ` (${info.command}${info.time ? `, since ${info.time}` : ''})` : '';
  return `${dir} is in use by pid ${info.pid}${where}${what}; wait for it to finish, or remove ${lockPath} if that process is gone`;
}

/**
 * Takes the lock of `dir` (which must exist). Throws {@link LockHeldError} when a live process
 * holds it, and the file system's error (EACCES, EROFS, ENOSPC...) when the lock cannot be
 * written, which also tells that the directory is not writable.
 */
export function lockDirectory(dir: string, options: { command?: string } = {}): DirLock {
  const lockPath = join(dir, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid,
    host: hostname(),
    start: processStart(process.pid),
    token: randomBytes(8).toString('hex'),
    command: options.command ?? '',
    time: new Date().toISOString(),
  };
  const text = JSON.stringify(info) + '\n';
  for (let attempt = 0; ; attempt++) {
    let fd: number | undefined;
    try {
      fd = fs.openSync(lockPath, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fd !== undefined) {
      try {
        fs.writeSync(fd, text);
      } catch (e) {
        fs.closeSync(fd);
        fs.rmSync(lockPath, { force: true });
        throw e;
      }
      fs.closeSync(fd);
      return holdLock(lockPath, info.token);
    }
    // the lock exists: is its owner alive?
    let current: string;
    let mtime: number;
    try {
      current = fs.readFileSync(lockPath, 'utf8');
      mtime = fs.statSync(lockPath).mtimeMs;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 5) continue; // released meanwhile
      throw e;
    }
    const owner = parseLock(current);
    const stale = owner === null ? Date.now() - mtime > FRESH_MS : !ownerAlive(owner);
    if (!stale || attempt >= 5) throw new LockHeldError(heldMessage(dir, owner, lockPath), lockPath, owner?.pid ?? null);
    takeOverStale(lockPath, current);
  }
}

/**
 * Throws {@link LockHeldError} when a live process holds the lock of `dir`; changes nothing (a
 * quick check before expensive work, ahead of {@link lockDirectory}).
 */
export function checkUnlocked(dir: string): void {
  const lockPath = join(dir, LOCK_FILE);
  let text: string;
  try {
    text = fs.readFileSync(lockPath, 'utf8');
  } catch {
    return;
  }
  const owner = parseLock(text);
  if (owner !== null && ownerAlive(owner)) throw new LockHeldError(heldMessage(dir, owner, lockPath), lockPath, owner.pid);
}

/**
 * Removes a stale lock whose content is `seen`. It is first renamed to a private name, so that of
 * two processes taking over the same stale lock only one removes it; a lock that changed in
 * between (taken meanwhile by a live process) is put back.
 */
function takeOverStale(lockPath: string, seen: string): void {
  const aside = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    fs.renameSync(lockPath, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  let moved = '';
  try {
    moved = fs.readFileSync(aside, 'utf8');
  } catch {
    /* unreadable: treat as the stale one */
  }
  if (moved !== seen && moved !== '') {
    try {
      fs.linkSync(aside, lockPath);
    } catch {
      /* a third process took the lock meanwhile; it stays the owner */
    }
  }
  fs.rmSync(aside, { force: true });
}

function holdLock(lockPath: string, token: string): DirLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    try {
      const owner = parseLock(fs.readFileSync(lockPath, 'utf8'));
      if (owner?.token === token) fs.rmSync(lockPath, { force: true });
    } catch {
      /* already gone */
    }
  };
  process.on('exit', release);
  return { path: lockPath, release };
}
