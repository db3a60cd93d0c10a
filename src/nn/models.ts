/** Reference backbones: an MLP, the small CNN for 28×28 inputs, and a CIFAR-style ResNet-18. */
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';
import { Linear, Conv2d, BatchNorm, ReLU, MaxPool2d, GlobalAvgPool2d, Sequential, Dropout, type InitOptions } from './layers.js';
import { add, relu } from '../autograd/ops/elementwise.js';

/** A backbone maps inputs to a feature vector of `features` entries. */
export interface Backbone extends Module {
  readonly features: number;
  forward(x: Tensor): Tensor;
}

/** Flatten → [Linear → ReLU (→ Dropout)] per hidden width. */
export class MLP extends Module implements Backbone {
  readonly body: Sequential;
  readonly features: number;
  constructor(inFeatures: number, hidden: number[] = [256, 256], opts: InitOptions & { dropout?: number } = {}) {
    super();
    const layers: Module[] = [];
    let width = inFeatures;
    for (const h of hidden) {
      layers.push(new Linear(width, h, opts), new ReLU());
      if (opts.dropout) layers.push(new Dropout(opts.dropout, opts));
      width = h;
    }
    this.body = new Sequential(...layers);
    this.features = width;
  }
  forward(x: Tensor): Tensor {
    return this.body.forward(x.ndim > 2 ? x.flatten(1) : x);
  }
}

function convBnRelu(i: number, o: number, opts: InitOptions): Module[] {
  return [new Conv2d(i, o, 3, { padding: 1, ...opts }), new BatchNorm(o), new ReLU()];
}

/**
 * The reference CNN for 28×28×C inputs: conv3×3 C→32→32, max-pool, 32→64→64, max-pool, each conv
 * followed by batch norm and ReLU; global average pooling → 64 features.
 */
export class SmallCNN extends Module implements Backbone {
  readonly body: Sequential;
  readonly features = 64;
  constructor(inChannels = 1, opts: InitOptions = {}) {
    super();
    this.body = new Sequential(
      ...convBnRelu(inChannels, 32, opts), ...convBnRelu(32, 32, opts), new MaxPool2d(2),
      ...convBnRelu(32, 64, opts), ...convBnRelu(64, 64, opts), new MaxPool2d(2),
      new GlobalAvgPool2d(),
    );
  }
  forward(x: Tensor): Tensor {
    return this.body.forward(x);
  }
}

export class BasicBlock extends Module {
  readonly c1: Conv2d;
  readonly b1: BatchNorm;
  readonly c2: Conv2d;
  readonly b2: BatchNorm;
  readonly short: Sequential | null;
  constructor(i: number, o: number, stride: number, opts: InitOptions) {
    super();
    this.c1 = new Conv2d(i, o, 3, { stride, padding: 1, ...opts });
    this.b1 = new BatchNorm(o);
    this.c2 = new Conv2d(o, o, 3, { padding: 1, ...opts });
    this.b2 = new BatchNorm(o);
    this.short = stride !== 1 || i !== o ? new Sequential(new Conv2d(i, o, 1, { stride, ...opts }), new BatchNorm(o)) : null;
  }
  forward(x: Tensor): Tensor {
    const y = this.b1.forwardRelu(this.c1.forward(x));
    const z = this.b2.forward(this.c2.forward(y));
    return relu(add(z, this.short ? this.short.forward(x) : x));
  }
}

/** CIFAR-style ResNet-18 (3×3 stem, no max-pool) → 512 features. */
export class ResNet18 extends Module implements Backbone {
  readonly stem: Sequential;
  readonly blocks: BasicBlock[];
  readonly pool = new GlobalAvgPool2d();
  readonly features = 512;
  constructor(inChannels = 3, opts: InitOptions = {}) {
    super();
    this.stem = new Sequential(...convBnRelu(inChannels, 64, opts));
    this.blocks = [];
    let i = 64;
    for (const [o, s] of [[64, 1], [128, 2], [256, 2], [512, 2]]) {
      this.blocks.push(new BasicBlock(i, o, s, opts), new BasicBlock(o, o, 1, opts));
      i = o;
    }
  }
  forward(x: Tensor): Tensor {
    let h = this.stem.forward(x);
    for (const b of this.blocks) h = b.forward(h);
    return this.pool.forward(h);
  }
}
