/** Parsers and validators for command-line values (each error names the flag). */
import { InvalidArgumentError, type Command } from 'commander';

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A finite decimal number ("abc", "", "1e", "Infinity", "0x10" are rejected). */
export function parseNumber(value: string): number {
  const v = value.trim();
  if (!NUMBER_RE.test(v)) throw new InvalidArgumentError(`expected a number, got '${value}'.`);
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a finite number, got '${value}'.`);
  return n;
}

/** An integer ≥ min. */
export function intParser(min: number): (value: string) => number {
  return (value: string) => {
    const v = value.trim();
    if (!/^[+-]?\d+$/.test(v)) throw new InvalidArgumentError(`expected an integer, got '${value}'.`);
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${value}'.`);
    if (n < min) throw new InvalidArgumentError(`must be ≥ ${min}, got ${n}.`);
    return n;
  };
}

/** A number > 0 (learning rates). */
export function positiveNumber(value: string): number {
  const n = parseNumber(value);
  if (!(n > 0)) throw new InvalidArgumentError(`must be > 0, got ${n}.`);
  return n;
}

/** A number ≥ 0 (weight decay, μ). */
export function nonNegativeNumber(value: string): number {
  const n = parseNumber(value);
  if (!(n >= 0)) throw new InvalidArgumentError(`must be ≥ 0, got ${n}.`);
  return n;
}

/** Variadic K values: `--k 1.5 2 3` (each > 0; the upper bound needs the dataset, see checkKs). */
export function kListParser(value: string, previous: number[] | undefined): number[] {
  const parts = value.split(',').filter((s) => s.trim() !== '');
  if (parts.length === 0) throw new InvalidArgumentError(`expected a number, got '${value}'.`);
  const out = [...(previous ?? [])];
  for (const p of parts) {
    const k = parseNumber(p);
    if (!(k > 0)) throw new InvalidArgumentError(`K must be > 0, got ${k}.`);
    out.push(k);
  }
  return out;
}

/** A comma-separated list of positive integers, e.g. "256,256". */
export function intListParser(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) {
    throw new InvalidArgumentError(`expected comma-separated positive integers (e.g. 256,256), got '${value}'.`);
  }
  return parts.map(Number);
}

/** One of a fixed set of names. */
export function choiceParser<T extends string>(what: string, choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`unknown ${what} '${value}' (expected one of: ${choices.join(', ')}).`);
    }
    return value as T;
  };
}

/** The K values must lie in (0, C) for C classes; duplicates are removed, order kept. */
export function checkKs(ks: readonly number[], numClasses: number, datasetName: string): string | null {
  for (const k of ks) {
    if (!(k > 0 && k < numClasses)) return `--k: K must be in (0, ${numClasses}) for ${datasetName} (${numClasses} classes), got ${k}`;
  }
  return null;
}

export function uniqueKs(ks: readonly number[]): number[] {
  return [...new Set(ks)];
}

/** A value that reads as a flag (`--force`, `-q`), not a number like -1. */
const FLAG_LIKE_RE = /^--?[A-Za-z]/;

/**
 * An option of `cmd` given on the command line whose value looks like a flag (`--out --force`
 * makes commander take "--force" as the directory) is an error, unless it was written as
 * `--opt=value`; returns the message, or null.
 */
export function flagLikeValueError(cmd: Command, argv: readonly string[]): string | null {
  for (const opt of cmd.options) {
    if (!(opt.required || opt.optional) || opt.long === undefined) continue;
    const key = opt.attributeName();
    if (cmd.getOptionValueSource(key) !== 'cli') continue;
    const value: unknown = cmd.getOptionValue(key);
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v !== 'string' || !FLAG_LIKE_RE.test(v)) continue;
      if (argv.includes(`${opt.long}=${v}`)) continue;
      return `${opt.long} needs a value, got the option '${v}' (write ${opt.long}=${v} if that is the value)`;
    }
  }
  return null;
}
