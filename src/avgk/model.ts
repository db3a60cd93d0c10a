/** The two-head classifier: any backbone, a softmax head and a multi-label (sigmoid) head. */
import type { Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { Linear, type InitOptions } from '../nn/layers.js';
import { MLP, SmallCNN, ResNet18, type Backbone } from '../nn/models.js';
import type { HeadOutputs } from './losses.js';

export class TwoHeadModel extends Module {
  readonly softmaxHead: Linear;
  readonly multilabelHead: Linear;
  constructor(readonly backbone: Backbone, readonly numClasses: number, opts: InitOptions = {}) {
    super();
    this.softmaxHead = new Linear(backbone.features, numClasses, opts);
    this.multilabelHead = new Linear(backbone.features, numClasses, opts);
  }
  /** Both heads' logits, [B, C] each. */
  forward(x: Tensor): HeadOutputs {
    const f = this.backbone.forward(x);
    return {
      softmax: this.softmaxHead.forward(f),
      multilabel: this.multilabelHead.forward(f),
      multilabelHeadOnly: () => this.multilabelHead.forward(f.detach()),
    };
  }
}

export const MODEL_NAMES = ['mlp', 'cnn', 'resnet18'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export interface ModelSpec {
  name: ModelName;
  /** mlp: hidden widths (default [256, 256]) */
  hidden?: number[];
  dropout?: number;
}

/** Build a two-head model for inputs of `sampleShape` (CHW for images, [d] for vectors). */
export function buildModel(spec: ModelSpec, sampleShape: readonly number[], numClasses: number, opts: InitOptions = {}): TwoHeadModel {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  switch (spec.name) {
    case 'mlp':
      return new TwoHeadModel(new MLP(size, spec.hidden ?? [256, 256], { ...opts, dropout: spec.dropout }), numClasses, opts);
    case 'cnn':
      if (sampleShape.length !== 3) throw new Error(`model "cnn" needs image inputs [C, H, W], got sample shape [${sampleShape.join(', ')}]`);
      return new TwoHeadModel(new SmallCNN(sampleShape[0], opts), numClasses, opts);
    case 'resnet18':
      if (sampleShape.length !== 3) throw new Error(`model "resnet18" needs image inputs [C, H, W], got sample shape [${sampleShape.join(', ')}]`);
      return new TwoHeadModel(new ResNet18(sampleShape[0], opts), numClasses, opts);
    default:
      throw new Error(`unknown model "${String((spec as { name: unknown }).name)}" (expected one of ${MODEL_NAMES.join(', ')})`);
  }
}
