/**
 * Average-K training objectives (see docs/method.md): the method interface (./method.ts) and the
 * registry of methods (./methods/): softmax, two-head, an, wan, an-ls, epr, role.
 */
export {
  type HeadOutputs, type LossContext, type AvgKMethod, methodScores,
} from './method.js';
export {
  METHODS, METHOD_NAMES, type MethodName, type MethodDef, type MethodOptions, methodDef, resolveOptions, createMethod,
} from './methods/index.js';
