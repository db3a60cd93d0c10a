/**
 * `--profile`: where the time of one training step goes (reference CNN, or ResNet-18 with
 * `--profile-model resnet18`).
 *  1. Kernel accounting: every function of the active backend is wrapped with a timer, so the step
 *     time splits into per-kernel time and the rest ("outside kernels": autograd bookkeeping,
 *     allocation, TypeScript-side loops).
 *  2. A V8 CPU profile (node:inspector) of the same steps, aggregated by function self time, to
 *     name the TypeScript hot spots outside the kernels.
 */
import { Session } from 'node:inspector';
import { backend } from '../src/backend/index.js';
import { cnnWorkload, makeTrainSetup, type TrainWorkload } from './train.js';

interface KernelStat {
  calls: number;
  ms: number;
}

export interface ProfileReport {
  workload: string;
  steps: number;
  stepMs: number;
  /** process CPU time per step (all threads): user and system (page faults of fresh buffers land here) */
  userMs: number;
  sysMs: number;
  kernels: { name: string; callsPerStep: number; msPerStep: number; share: number }[];
  outsideShare: number;
  jsTop: { fn: string; where: string; selfMs: number; share: number }[];
}

function kernelProfile(w: TrainWorkload, steps: number): { stepMs: number; userMs: number; sysMs: number; stats: Map<string, KernelStat> } {
  const be = backend() as unknown as Record<string, unknown>;
  const stats = new Map<string, KernelStat>();
  const originals = new Map<string, unknown>();
  const s = makeTrainSetup(w);
  for (let i = 0; i < 2; i++) s.step(); // warm-up (first-step allocations, JIT)
  for (const [k, v] of Object.entries(be)) {
    if (typeof v !== 'function' || k === 'setNumThreads' || k === 'getNumThreads') continue;
    const f = v as (...args: unknown[]) => unknown;
    const st: KernelStat = { calls: 0, ms: 0 };
    stats.set(k, st);
    originals.set(k, v);
    be[k] = (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return f(...args);
      } finally {
        st.ms += performance.now() - t0;
        st.calls++;
      }
    };
  }
  let total = 0;
  let cpu = { user: 0, system: 0 };
  try {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) s.step();
    total = performance.now() - t0;
    cpu = process.cpuUsage(c0);
  } finally {
    for (const [k, v] of originals) be[k] = v;
  }
  return { stepMs: total / steps, userMs: cpu.user / 1e3 / steps, sysMs: cpu.system / 1e3 / steps, stats };
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function post<T>(session: Session, method: string, params?: object): T {
  let result: T | undefined;
  let error: Error | null = null;
  session.post(method, params ?? {}, (err, res) => {
    error = err;
    result = res as T;
  });
  if (error) throw error;
  return result as T;
}

function cpuProfile(w: TrainWorkload, steps: number): { fn: string; where: string; selfMs: number; share: number }[] {
  const s = makeTrainSetup(w);
  for (let i = 0; i < 2; i++) s.step();
  const session = new Session();
  session.connect();
  try {
    post(session, 'Profiler.enable');
    post(session, 'Profiler.setSamplingInterval', { interval: 200 });
    post(session, 'Profiler.start');
    for (let i = 0; i < steps; i++) s.step();
    const { profile } = post<{ profile: CpuProfile }>(session, 'Profiler.stop');
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    let total = 0;
    for (let i = 0; i < samples.length; i++) {
      const node = byId.get(samples[i]);
      const dt = (deltas[i] ?? 0) / 1000;
      total += dt;
      if (!node) continue;
      const cf = node.callFrame;
      if (!cf.url && !cf.functionName.startsWith('(')) {
        // native functions (the addon's kernels, V8 builtins): V8 may report them under one name
        const key = '(native: addon kernels and builtins)\t';
        self.set(key, (self.get(key) ?? 0) + dt);
        continue;
      }
      const url = cf.url.replace(/^file:\/\//, '').replace(/^.*?\/(dist|src|bench)\//, '$1/');
      const key = `${cf.functionName || '(anonymous)'}\t${url ? `${url}:${cf.lineNumber + 1}` : ''}`;
      self.set(key, (self.get(key) ?? 0) + dt);
    }
    return [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([k, ms]) => {
        const [fn, where] = k.split('\t');
        return { fn, where, selfMs: ms / steps, share: ms / total };
      });
  } finally {
    post(session, 'Profiler.disable');
    session.disconnect();
  }
}

export function profileCnnStep(batch: number, steps: number): ProfileReport {
  return profileStep(cnnWorkload(batch), steps);
}

export function profileStep(w: TrainWorkload, steps: number): ProfileReport {
  const { stepMs, userMs, sysMs, stats } = kernelProfile(w, steps);
  const kernels = [...stats.entries()]
    .filter(([, st]) => st.calls > 0)
    .map(([name, st]) => ({ name, callsPerStep: st.calls / steps, msPerStep: st.ms / steps, share: st.ms / steps / stepMs }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
  const inside = kernels.reduce((a, k) => a + k.msPerStep, 0);
  const jsTop = cpuProfile(w, steps);
  return { workload: w.name, steps, stepMs, userMs, sysMs, kernels, outsideShare: 1 - inside / stepMs, jsTop };
}

export function formatProfile(r: ProfileReport): string {
  const lines = [
    `profile of ${r.workload}: ${r.stepMs.toFixed(1)} ms/step over ${r.steps} steps; CPU per step: user ${r.userMs.toFixed(1)} ms, system ${r.sysMs.toFixed(1)} ms`,
    '', 'kernel                 calls/step   ms/step   share'];
  for (const k of r.kernels) {
    lines.push(`${k.name.padEnd(22)} ${k.callsPerStep.toFixed(0).padStart(10)} ${k.msPerStep.toFixed(2).padStart(9)} ${(k.share * 100).toFixed(1).padStart(6)}%`);
  }
  lines.push(`${'(outside kernels)'.padEnd(22)} ${''.padStart(10)} ${(r.outsideShare * r.stepMs).toFixed(2).padStart(9)} ${(r.outsideShare * 100).toFixed(1).padStart(6)}%`);
  lines.push('', 'V8 CPU profile of the same steps, self time on the main thread (allocation and zero-filling of new typed arrays count in the allocating function):', 'ms/step   share  function  (location)');
  for (const f of r.jsTop) lines.push(`${f.selfMs.toFixed(2).padStart(7)} ${(f.share * 100).toFixed(1).padStart(6)}%  ${f.fn}  ${f.where}`);
  return lines.join('\n');
}
