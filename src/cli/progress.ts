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

function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class TrainProgress {
  private bar: cliProgress.SingleBar | null = null;
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
    if (this.tty) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: `epoch {ep}/${this.opts.epochs} {bar} {value}/{total} batches | {ips} img/s | loss {loss} | ETA {eta_formatted}`,
            barsize: 24,
            hideCursor: true,
            clearOnComplete: true,
            etaBuffer: 50,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(info.batches, info.batch, { ep: info.epoch + 1, ips: '—', loss: '—' });
      }
      this.bar.update(done, { ep: info.epoch + 1, ips: ips.toFixed(0), loss: info.loss.toFixed(4) });
      return;
    }
    const now = performance.now();
    if (this.printedAny && now - this.lastPlain < this.intervalMs) return;
    this.printedAny = true;
    this.lastPlain = now;
    const eta = this.epochSteps > 0 ? ((info.batches - done) * seconds) / this.epochSteps : NaN;
    this.ctx.err(
      `epoch ${info.epoch + 1}/${this.opts.epochs}  batch ${done}/${info.batches}  loss ${info.loss.toFixed(4)}  ${ips.toFixed(0)} img/s  ETA ${duration(eta)}`,
    );
  }

  /** The epoch ended (after validation). */
  epoch(info: EpochInfo): void {
    this.stopBar();
    this.epochSteps = 0;
    if (this.ctx.quiet) return;
    const val = info.val.map((v) => `val acc@K=${v.k} ${v.avgKAccuracy.toFixed(4)} (size ${v.meanSetSize.toFixed(2)})`).join('  ');
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
  }
}
