/**
 * Crash-safe file replacement.
 *
 * `writeFileAtomic(path, data)` never leaves `path` half-written: the bytes go to a uniquely named
 * temporary file in the same directory (so the final rename stays on one filesystem), the file is
 * fsynced, renamed over the target, and the directory is fsynced so the rename itself survives a
 * power loss. On any failure the temporary file is removed and the error is rethrown with the
 * target path in its message; the previous content of `path` (if any) is left untouched.
 *
 * Only regular files are replaced: a symlink is followed to the file it names (the link stays),
 * and a character device, FIFO or socket (/dev/stdout, /dev/null, a named pipe) is written
 * through, in place. A directory is an error (EISDIR).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pidAlive } from './lock.js';

export interface AtomicWriteOptions {
  /** File mode for a newly created file (default 0o666, minus the umask). */
  mode?: number;
  /** fsync the file and its directory (default true). Turn off only for scratch output. */
  fsync?: boolean;
  /**
   * Called with the temporary file's path after it is fully written and flushed, before it
   * replaces the target. Throwing here aborts the write: the temporary file is removed and the
   * target keeps its previous content. Use it to check that what was written reads back.
   */
  verify?: (tempPath: string) => void | Promise<void>;
}

/** Chunk size for writes; large buffers are written piecewise so partial writes are handled. */
const CHUNK = 1 << 20;

/** The unique temporary name used for `path`: hidden, in the same directory, never reused. */
function tempPathFor(path: string): string {
  const rand = randomBytes(6).toString('hex');
  return join(dirname(path), `.${basename(path)}.${process.pid}.${rand}.tmp`);
}

/** Matches the names made by tempPathFor; group 1 is the writer's pid. */
const TEMP_RE = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes the temporary files that writes killed midway left in `dir` (those whose writer's pid
 * is no longer running); returns their names. A missing or unreadable directory is skipped.
 */
export function removeStaleTemps(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    try {
      if (!fs.lstatSync(join(dir, name)).isFile()) continue;
      fs.rmSync(join(dir, name), { force: true });
      removed.push(name);
    } catch {
      /* gone meanwhile, or not ours to remove */
    }
  }
  return removed;
}

/** Where a write to `path` goes: a regular file (replaced by rename) or a special file (written in place). */
interface WriteTarget {
  path: string;
  special: boolean;
}

function isDirError(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EISDIR: is a directory, open '${path}'`), { code: 'EISDIR' });
}

/** Follows a chain of symlinks whose end does not exist yet (a dangling link names the file to create). */
function followDangling(path: string): string {
  let p = path;
  for (let i = 0; i < 40; i++) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return p;
    }
    if (!st.isSymbolicLink()) return p;
    p = resolve(dirname(p), fs.readlinkSync(p));
  }
  throw Object.assign(new Error(`ELOOP: too many symbolic links, open '${path}'`), { code: 'ELOOP' });
}

function writeTarget(path: string): WriteTarget {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { path: followDangling(path), special: false };
  }
  if (st.isDirectory()) throw isDirError(path);
  // special files are opened by their own name: /dev/stdout's link target may be "pipe:[123]"
  if (!st.isFile()) return { path, special: true };
  return { path: fs.realpathSync(path), special: false };
}

/**
 * Checks, without changing anything, that a write to `path` can succeed: a special file must be
 * writable, and the directory of a regular (or new) file must accept a new file. Throws the file
 * system's error (EACCES, EROFS, ENOENT, EISDIR...).
 */
export function checkWritable(path: string): void {
  const target = writeTarget(path);
  if (target.special) {
    fs.accessSync(target.path, fs.constants.W_OK);
    return;
  }
  const probe = tempPathFor(target.path);
  fs.closeSync(fs.openSync(probe, 'wx', 0o600));
  fs.rmSync(probe, { force: true });
}

async function writeThrough(path: string, bytes: Uint8Array): Promise<void> {
  const fh = await fsp.open(path, 'w');
  try {
    let off = 0;
    while (off < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, off, Math.min(CHUNK, bytes.length - off), null);
      if (bytesWritten <= 0) throw new Error(`short write at byte ${off} of ${bytes.length}`);
      off += bytesWritten;
    }
  } finally {
    await fh.close();
  }
}

function writeThroughSync(path: string, bytes: Uint8Array): void {
  const fd = fs.openSync(path, 'w');
  try {
    let off = 0;
    while (off < bytes.length) {
      const n = fs.writeSync(fd, bytes, off, Math.min(CHUNK, bytes.length - off), null);
      if (n <= 0) throw new Error(`short write at byte ${off} of ${bytes.length}`);
      off += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function toBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  throw new TypeError(`data must be a Uint8Array or a string, got ${describe(data)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

function wrapError(path: string, err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  const wrapped = new Error(`cannot write ${path}: ${msg}`, { cause: err });
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') (wrapped as Error & { code?: string }).code = code;
  return wrapped;
}

/** Errors from fsync on a directory that mean "not supported here", not "data lost". */
function dirSyncUnsupported(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EINVAL' || code === 'ENOTSUP' || code === 'EISDIR' || code === 'EPERM' || code === 'EBADF';
}

async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    if (!dirSyncUnsupported(err)) throw err;
  } finally {
    await fh?.close();
  }
}

function syncDirSync(dir: string): void {
  if (process.platform === 'win32') return;
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    if (!dirSyncUnsupported(err)) throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Atomically replace `path` with `data` (a string is written as UTF-8). */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const doSync = options.fsync ?? true;
  let bytes: Uint8Array;
  try {
    bytes = toBytes(data);
  } catch (err) {
    throw wrapError(path, err);
  }
  let tmp = '';
  let fh: fsp.FileHandle | undefined;
  let created = false;
  try {
    const target = writeTarget(path);
    if (target.special) return await writeThrough(target.path, bytes);
    tmp = tempPathFor(target.path);
    // 'wx': fail rather than clobber if the (random) name somehow exists.
    fh = await fsp.open(tmp, 'wx', options.mode ?? 0o666);
    created = true;
    let off = 0;
    while (off < bytes.length) {
      const len = Math.min(CHUNK, bytes.length - off);
      const { bytesWritten } = await fh.write(bytes, off, len, off);
      if (bytesWritten <= 0) throw new Error(`short write at byte ${off} of ${bytes.length}`);
      off += bytesWritten;
    }
    if (doSync) await fh.sync();
    const toClose = fh;
    fh = undefined;
    await toClose.close();
    if (options.verify) await options.verify(tmp);
    await fsp.rename(tmp, target.path);
    created = false;
    if (doSync) await syncDir(dirname(target.path));
  } catch (err) {
    if (fh) await fh.close().catch(() => undefined);
    if (created) await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw wrapError(path, err);
  }
}

/** Synchronous twin of {@link writeFileAtomic} (for exit handlers and other sync-only places). */
export function writeFileAtomicSync(
  path: string,
  data: Uint8Array | string,
  options: Omit<AtomicWriteOptions, 'verify'> & { verify?: (tempPath: string) => void } = {},
): void {
  const doSync = options.fsync ?? true;
  let bytes: Uint8Array;
  try {
    bytes = toBytes(data);
  } catch (err) {
    throw wrapError(path, err);
  }
  let tmp = '';
  let fd: number | undefined;
  let created = false;
  try {
    const target = writeTarget(path);
    if (target.special) return writeThroughSync(target.path, bytes);
    tmp = tempPathFor(target.path);
    fd = fs.openSync(tmp, 'wx', options.mode ?? 0o666);
    created = true;
    let off = 0;
    while (off < bytes.length) {
      const len = Math.min(CHUNK, bytes.length - off);
      const n = fs.writeSync(fd, bytes, off, len, off);
      if (n <= 0) throw new Error(`short write at byte ${off} of ${bytes.length}`);
      off += n;
    }
    if (doSync) fs.fsyncSync(fd);
    const toClose = fd;
    fd = undefined;
    fs.closeSync(toClose);
    options.verify?.(tmp);
    fs.renameSync(tmp, target.path);
    created = false;
    if (doSync) syncDirSync(dirname(target.path));
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    if (created) fs.rmSync(tmp, { force: true });
    throw wrapError(path, err);
  }
}

export interface JsonWriteOptions extends AtomicWriteOptions {
  /** Indentation passed to JSON.stringify (default 2). */
  indent?: number;
}

/**
 * Serialise `value` as JSON (with a trailing newline) and write it atomically. Values JSON cannot
 * represent faithfully (NaN, ±Infinity, bigint, undefined at the top level, functions) are an
 * error naming where they are, instead of being silently turned into `null` or dropped.
 */
export async function writeJsonAtomic(path: string, value: unknown, options: JsonWriteOptions = {}): Promise<void> {
  let text: string;
  try {
    text = stringifyStrict(value, options.indent ?? 2) + '\n';
  } catch (err) {
    throw wrapError(path, err);
  }
  await writeFileAtomic(path, text, options);
}

/**
 * JSON.stringify that refuses values JSON would silently mangle. The error names the location,
 * e.g. `$.metrics.loss is NaN, which JSON cannot represent`.
 */
export function stringifyStrict(value: unknown, indent?: number): string {
  const check = (v: unknown, where: string, seen: Set<object>): void => {
    switch (typeof v) {
      case 'number':
        if (!Number.isFinite(v)) throw new Error(`${where} is ${v}, which JSON cannot represent`);
        return;
      case 'bigint':
        throw new Error(`${where} is a bigint (${v}n); store it as a string`);
      case 'function':
      case 'symbol':
        throw new Error(`${where} is a ${typeof v}, which JSON cannot represent`);
      case 'undefined':
        if (where === '$') throw new Error('the value is undefined, which JSON cannot represent');
        return; // dropped from objects, like JSON.stringify; arrays turn it into null below
      case 'object': {
        if (v === null) return;
        if (seen.has(v)) throw new Error(`${where} is a circular reference`);
        const toJSON = (v as { toJSON?: unknown }).toJSON;
        if (typeof toJSON === 'function') return; // Date and friends serialise themselves
        seen.add(v);
        if (Array.isArray(v)) v.forEach((x, i) => check(x, `${where}[${i}]`, seen));
        else if (ArrayBuffer.isView(v)) throw new Error(`${where} is a ${describe(v)}; convert it with Array.from`);
        else if (v instanceof Map || v instanceof Set) throw new Error(`${where} is a ${describe(v)}, which JSON cannot represent`);
        else for (const [k, x] of Object.entries(v)) check(x, /^[A-Za-z_$][\w$]*$/.test(k) ? `${where}.${k}` : `${where}[${JSON.stringify(k)}]`, seen);
        seen.delete(v);
        return;
      }
      default:
        return;
    }
  };
  check(value, '$', new Set());
  return JSON.stringify(value, null, indent);
}
