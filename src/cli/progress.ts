/**
 * Training progress: on a terminal, a cli-progress bar per epoch (images/s, loss, ETA); elsewhere
 * (CI, pipes) plain lines, the first at the first step and then at most every `intervalS` seconds.
 * Both print one summary line per epoch. --quiet turns everything off.
 */
import cliProgress from 'cli-progress';
import type { CliContext } from './context.js';
import type { EpochInfo, StepInfo } from '../train/fit.js';

export interface ProgressOptions {
  epochs: number;
  batches: number;
  /** Seconds between plain lines on a non-terminal (default 5). */
  intervalS?: number;
  /** Force plain lines even on a terminal. */
  plain?: boolean;
}

/** A short duration: "<1s", "42s", "3m07s", "1h05m"; "?" when unknown. */
export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 0.5) return '<1s';
  const r = Math.round(s);
  if (r < 60) return `${r}s`;
  const m = Math.floor(r / 60);
  if (m < 60) return `${m}m${String(r - 60 * m).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface BarState {
  epoch: number;
  epochs: number;
  /** Batches done in this epoch, of `batches`. */
  done: number;
  batches: number;
  imagesPerS: number;
  loss: number;
  /** Seconds left in the epoch's training steps; NaN until a step has been timed. */
  etaS: number;
}

const BAR_WIDTH = 20;

/** The terminal progress line, at most `maxWidth` characters: the bar shrinks first. */
export function formatBar(b: BarState, maxWidth = Infinity): string {
  const speed = b.imagesPerS > 0 ? `${b.imagesPerS.toFixed(0)} img/s` : '— img/s';
  // all batches done: validation runs before the epoch's summary line
  const tail = b.done >= b.batches ? 'validating…' : `ETA ${Number.isFinite(b.etaS) ? duration(b.etaS) : '…'}`;
  const head = `epoch ${b.epoch}/${b.epochs} `;
  const rest = ` ${b.done}/${b.batches}  ${speed}  loss ${Number.isFinite(b.loss) ? b.loss.toFixed(4) : '—'}  ${tail}`;
  const width = Math.max(0, Math.min(BAR_WIDTH, maxWidth - head.length - rest.length));
  const filled = b.batches > 0 ? Math.min(width, Math.round((b.done / b.batches) * width)) : 0;
  const line = head + '\u2588'.repeat(filled) + '\u2591'.repeat(width - filled) + rest;
  return line.length > maxWidth ? line.slice(0, Math.max(0, maxWidth - 1)) + '…' : line;
}

export class TrainProgress {
  private bar: cliProgress.SingleBar | null = null;
  private state: BarState | null = null;
  private lastPlain = -Infinity;
  private printedAny = false;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  /** Samples and training seconds of the current epoch seen by this process. */
  epochSamples = 0;
  epochSeconds = 0;
  epochSteps = 0;

  constructor(private readonly ctx: CliContext, private readonly opts: ProgressOptions) {
    this.tty = !opts.plain && ctx.io.stderr.isTTY === true && ctx.io.stderr === (process.stderr as unknown);
    this.intervalMs = (opts.intervalS ?? 5) * 1000;
  }

  /** A step finished: `seconds` = training seconds of the epoch so far, `samples` = its samples so far. */
  step(info: StepInfo, samples: number, seconds: number): void {
    this.epochSamples = samples;
    this.epochSeconds = seconds;
    this.epochSteps++;
    if (this.ctx.quiet) return;
    const ips = seconds > 0 ? samples / seconds : 0;
    const done = info.batch + 1;
    // steps timed by this process (a resumed epoch starts part-way)
    const eta = this.epochSteps > 0 && seconds > 0 ? ((info.batches - done) * seconds) / this.epochSteps : NaN;
    if (this.tty) {
      this.state = { epoch: info.epoch + 1, epochs: this.opts.epochs, done, batches: info.batches, imagesPerS: ips, loss: info.loss, etaS: eta };
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar({
          stream: process.stderr,
          format: (_o, params) => (this.state ? formatBar(this.state, params.maxWidth) : ''),
          hideCursor: true,
          clearOnComplete: true,
          fps: 5,
        });
        this.bar.start(info.batches, done);
      }
      this.bar.update(done);
      // validation blocks the event loop: draw "evaluating" now, not at the next timer tick
      if (done >= info.batches) this.bar.render();
      return;
    }
    const now = performance.now();
    if (this.printedAny && now - this.lastPlain < this.intervalMs) return;
    this.printedAny = true;
    this.lastPlain = now;
    this.ctx.err(
      `epoch ${info.epoch + 1}/${this.opts.epochs}  batch ${done}/${info.batches}  loss ${info.loss.toFixed(4)}  ${ips.toFixed(0)} img/s  ETA ${duration(eta)}`,
    );
  }

  /** The epoch ended (after validation). */
  epoch(info: EpochInfo): void {
    this.stopBar();
    this.epochSteps = 0;
    if (this.ctx.quiet) return;
    const val = info.val.map((v) => `val acc@K=${v.k} ${v.avgKAccuracy.toFixed(4)}`).join('  ');
    const speed = Number.isFinite(info.imagesPerS) ? `, ${info.imagesPerS.toFixed(0)} img/s` : '';
    this.ctx.err(`epoch ${info.epoch + 1}/${this.opts.epochs}  train loss ${info.trainLoss.toFixed(4)}  ${val}  lr ${Number(info.lr.toPrecision(3))}  ${info.seconds.toFixed(1)} s${speed}`);
    // the next epoch starts with a fresh line
    this.printedAny = false;
  }

  stopBar(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
    this.state = null;
  }
}
