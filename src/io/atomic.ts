/**
 * Crash-safe file replacement.
 *
 * `writeFileAtomic(path, data)` never leaves `path` half-written: the bytes go to a uniquely named
 * temporary file in the same directory (so the final rename stays on one filesystem), the file is
 * fsynced, renamed over the target, and the directory is fsynced so the rename itself survives a
 * power loss. On any failure the temporary file is removed and the error is rethrown with the
 * target path in its message; the previous content of `path` (if any) is left untouched.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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
  const tmp = tempPathFor(path);
  let fh: fsp.FileHandle | undefined;
  let created = false;
  try {
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
    await fsp.rename(tmp, path);
    created = false;
    if (doSync) await syncDir(dirname(path));
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
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  let created = false;
  try {
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
    fs.renameSync(tmp, path);
    created = false;
    if (doSync) syncDirSync(dirname(path));
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
