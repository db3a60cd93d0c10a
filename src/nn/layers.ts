/** Standard layers on top of the autograd ops. */
import { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';
import { kaimingNormal, kaimingUniform, uniform } from './init.js';
import type { Rng } from '../tensor/rng.js';
import { globalGenerator } from '../tensor/random.js';
import { conv2d, maxPool2d, avgPool2d, globalAvgPool2d, batchNorm, dropout } from '../autograd/ops/nn.js';
import { matmul } from '../autograd/ops/matmul.js';
import { add, relu } from '../autograd/ops/elementwise.js';
import { shapeStr } from '../tensor/shape.js';

function param(data: Float32Array, shape: number[]): Tensor {
  return new Tensor(data, shape).setRequiresGrad(true);
}

export interface InitOptions {
  rng?: Rng;
}

/** y = x Wᵀ + b with W [out, in] (PyTorch layout). */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: InitOptions & { bias?: boolean } = {}) {
    super();
    const rng = opts.rng ?? globalGenerator();
    this.weight = param(kaimingUniform(outFeatures * inFeatures, inFeatures, rng), [outFeatures, inFeatures]);
    // PyTorch's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = opts.bias === false ? null : param(uniform(outFeatures, -bound, bound, rng), [outFeatures]);
  }

  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures}→${this.outFeatures}): input of shape ${shapeStr(x.shape)} has ${x.shape[x.ndim - 1]} features`);
    }
    const y = matmul(x, this.weight.transpose(0, 1));
    return this.bias ? add(y, this.bias) : y;
  }
}

export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;

  constructor(
    readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number,
    opts: InitOptions & { stride?: number; padding?: number; bias?: boolean } = {},
  ) {
    super();
    const rng = opts.rng ?? globalGenerator();
    const fanIn = inChannels * kernelSize * kernelSize;
    this.weight = param(kaimingNormal(outChannels * fanIn, fanIn, rng), [outChannels, inChannels, kernelSize, kernelSize]);
    this.bias = opts.bias ? param(new Float32Array(outChannels), [outChannels]) : null;
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
}

/** Batch norm over channels of [N,C] (BatchNorm1d) or [N,C,H,W] (BatchNorm2d) input. */
export class BatchNorm extends Module {
  weight: Tensor;
  bias: Tensor;
  /** Running statistics, [C] tensors on the module's device. */
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(readonly numFeatures: number, readonly opts: { momentum?: number; eps?: number } = {}) {
    super();
    this.weight = param(new Float32Array(numFeatures).fill(1), [numFeatures]);
    this.bias = param(new Float32Array(numFeatures), [numFeatures]);
    this.runningMean = this.registerBuffer('runningMean', new Float32Array(numFeatures));
    this.runningVar = this.registerBuffer('runningVar', new Float32Array(numFeatures).fill(1));
  }

  forward(x: Tensor): Tensor {
    return this.run(x, false);
  }

  /** relu(this.forward(x)) in one pass, forward and backward (Sequential uses it for BatchNorm → ReLU). */
  forwardRelu(x: Tensor): Tensor {
    return this.run(x, true);
  }

  private run(x: Tensor, relu: boolean): Tensor {
    return batchNorm(x, this.weight, this.bias, { runningMean: this.runningMean, runningVar: this.runningVar }, {
      training: this.training, momentum: this.opts.momentum, eps: this.opts.eps, relu,
    });
  }
}
export { BatchNorm as BatchNorm2d, BatchNorm as BatchNorm1d };

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: number, readonly stride = kernelSize, readonly padding = 0) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.stride, this.padding);
  }
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: number, readonly stride = kernelSize, readonly padding = 0) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.stride, this.padding);
  }
}

export class GlobalAvgPool2d extends Module {
  forward(x: Tensor): Tensor {
    return globalAvgPool2d(x);
  }
}

export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return x.flatten(1);
  }
}

export class Dropout extends Module {
  private readonly rng: Rng;
  constructor(readonly p = 0.5, opts: InitOptions = {}) {
    super();
    this.rng = opts.rng ?? globalGenerator();
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.rng);
  }
}

export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
  }
  forward(x: Tensor): Tensor {
    let h = x;
    const L = this.layers;
    for (let i = 0; i < L.length; i++) {
      // a plain BatchNorm followed by a plain ReLU runs fused (same values, one pass less each way)
      if (i + 1 < L.length && Object.getPrototypeOf(L[i]) === BatchNorm.prototype && Object.getPrototypeOf(L[i + 1]) === ReLU.prototype) {
        h = (L[i] as BatchNorm).forwardRelu(h);
        i++;
      } else {
        h = L[i]!.forward(h) as Tensor;
      }
    }
    return h;
  }
}
