// A small YOLO-shaped detector the tests and the video benchmark build themselves (no network, no
// weights): for each of up to three classes, "an object" is the set of pixels of one pure colour
// (class 0 red, 1 green, 2 blue: the channel exceeds both others by 0.3). The model returns one
// candidate per class whose box is computed from the image moments of that colour (centre =
// mean, size = sqrt(12 * variance + 1): exact for a filled axis-aligned rectangle) and whose score is
// how well the pixels fill that box, times a minimum-mass gate. So the expected detections of a
// synthetic frame are known exactly, at any scale or crop: a red 40×80 rectangle at (100, 50)
// gives "person" with box (100, 50, 40, 80) in input pixels and a score near 1.
//
// Outputs in either YOLO layout: yolov8 `[1, 4+C, C]`, yolov5 `[1, C, 5+C]` (objectness 1).
// Optionally a `backbone` of convolutions whose result is multiplied by zero and added, so the
// model costs what a real detector costs (benchmarks) without changing its answers.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto as unknown as { onnx: typeof import('onnx-proto').onnx };
const FLOAT = 1;
const INT64 = 7;

export interface MomentsModelOptions {
  /** Square input side in pixels (e.g. 64, 320, 640). */
  size: number;
  /** Class names, at most three (red, green, blue). */
  classes: string[];
  layout: 'yolov5' | 'yolov8';
  /** Write the class names as Ultralytics-style metadata (`names`: "{0: 'person', 1: 'car'}"). */
  names?: boolean;
  /** Convolution layers of dead weight (output unused): makes inference cost like a real model. */
  backbone?: { layers: number; channels: number };
  inputName?: string;
  outputName?: string;
}

type Node = ReturnType<typeof onnx.NodeProto.create>;
type Tensor = ReturnType<typeof onnx.TensorProto.create>;

export function buildMomentsDetector(opts: MomentsModelOptions): Uint8Array {
  const { size: S, classes } = opts;
  const C = classes.length;
  if (C < 1 || C > 3) throw new Error('moments model: 1 to 3 classes');
  const input = opts.inputName ?? 'images';
  const output = opts.outputName ?? 'output0';
  const nodes: Node[] = [];
  const inits: Tensor[] = [];
  let n = 0;
  const name = (p: string) => `${p}_${n++}`;
  const floats = (dims: number[], data: number[] | Float32Array): string => {
    const id = name('c');
    inits.push(onnx.TensorProto.create({ name: id, dataType: FLOAT, dims, floatData: Array.from(data) }));
    return id;
  };
  const ints = (data: number[]): string => {
    const id = name('i');
    inits.push(onnx.TensorProto.create({ name: id, dataType: INT64, dims: [data.length], int64Data: data }));
    return id;
  };
  const op = (type: string, inputs: string[], attrs: Record<string, number | number[]> = {}, out?: string): string => {
    const o = out ?? name(type.toLowerCase());
    const attribute = Object.entries(attrs).map(([k, v]) =>
      Array.isArray(v) ? onnx.AttributeProto.create({ name: k, type: 7, ints: v }) : onnx.AttributeProto.create({ name: k, type: 2, i: v }),
    );
    nodes.push(onnx.NodeProto.create({ opType: type, input: inputs, output: [o], attribute }));
    return o;
  };

  // Channels R, G, B as [1,1,S,S] each.
  const rgb = ['r', 'g', 'b'].map((c) => name(c));
  nodes.push(onnx.NodeProto.create({ opType: 'Split', input: [input], output: rgb, attribute: [onnx.AttributeProto.create({ name: 'axis', type: 2, i: 1 })] }));
  const margin = floats([], [0.3]);
  const gain = floats([], [1 / 0.7]);
  const masks = [0, 1, 2].slice(0, C).map((c) => {
    const others = [0, 1, 2].filter((o) => o !== c).map((o) => rgb[o]);
    const diff = op('Sub', [op('Sub', [rgb[c], op('Max', others)]), margin]);
    return op('Mul', [op('Relu', [diff]), gain]);
  });
  const M = C === 1 ? masks[0] : op('Concat', masks, { axis: 1 }); // [1,C,S,S]

  const xs = new Float32Array(S * S);
  const ys = new Float32Array(S * S);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    xs[y * S + x] = x + 0.5;
    ys[y * S + x] = y + 0.5;
  }
  const X = floats([1, 1, S, S], xs);
  const Y = floats([1, 1, S, S], ys);
  const axes = ints([2, 3]);
  const sum = (t: string) => op('ReduceSum', [t, axes], { keepdims: 0 }); // [1,C]
  const mass = sum(M);
  const massE = op('Add', [mass, floats([], [1e-6])]);
  const MX = op('Mul', [M, X]);
  const MY = op('Mul', [M, Y]);
  const cx = op('Div', [sum(MX), massE]);
  const cy = op('Div', [sum(MY), massE]);
  const varX = op('Sub', [op('Div', [sum(op('Mul', [MX, X])), massE]), op('Mul', [cx, cx])]);
  const varY = op('Sub', [op('Div', [sum(op('Mul', [MY, Y])), massE]), op('Mul', [cy, cy])]);
  const twelve = floats([], [12]);
  // Pixel centres of a run of w pixels have variance (w² − 1) / 12.
  const w = op('Sqrt', [op('Add', [op('Mul', [op('Relu', [varX]), twelve]), floats([], [1])])]);
  const h = op('Sqrt', [op('Add', [op('Mul', [op('Relu', [varY]), twelve]), floats([], [1])])]);
  const one = floats([], [1]);
  const fill = op('Min', [op('Div', [mass, op('Add', [op('Mul', [w, h]), floats([], [1e-3])])]), one]);
  const gate = op('Min', [op('Div', [mass, floats([], [16])]), one]);
  let score = op('Mul', [fill, gate]); // [1,C]

  if (opts.backbone) {
    // Dead weight: conv stack over the input, reduced to a scalar, times zero, added to the score.
    const { layers, channels } = opts.backbone;
    let t = input;
    let cin = 3;
    let rnd = 1;
    for (let l = 0; l < layers; l++) {
      const wts = new Float32Array(channels * cin * 9);
      for (let i = 0; i < wts.length; i++) wts[i] = ((rnd = (rnd * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2;
      t = op('Relu', [op('Conv', [t, floats([channels, cin, 3, 3], wts)], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: l % 2 === 0 ? [2, 2] : [1, 1] })]);
      cin = channels;
    }
    const dead = op('Mul', [op('ReduceMean', [t], { keepdims: 0 }), floats([], [0])]);
    score = op('Add', [score, dead]);
  }

  // [1,C] → [1,1,C] rows; class scores [1,C(class),C(candidate)] = eye * score.
  const row = (t: string) => op('Unsqueeze', [t, ints([1])]);
  const eye = new Float32Array(C * C);
  for (let i = 0; i < C; i++) eye[i * C + i] = 1;
  const classScores = op('Mul', [floats([1, C, C], eye), row(score)]);
  const parts = [row(cx), row(cy), row(w), row(h)];
  if (opts.layout === 'yolov8') {
    op('Concat', [...parts, classScores], { axis: 1 }, output); // [1,4+C,C]
  } else {
    const obj = floats([1, 1, C], new Array(C).fill(1));
    op('Transpose', [op('Concat', [...parts, obj, classScores], { axis: 1 })], { perm: [0, 2, 1] }, output); // [1,C,5+C]
  }

  const vi = (nm: string, dims: number[]) =>
    onnx.ValueInfoProto.create({
      name: nm,
      type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: FLOAT, shape: onnx.TensorShapeProto.create({ dim: dims.map((d) => onnx.TensorShapeProto.Dimension.create({ dimValue: d })) }) }) }),
    });
  const outDims = opts.layout === 'yolov8' ? [1, 4 + C, C] : [1, C, 5 + C];
  const graph = onnx.GraphProto.create({ name: 'moments', node: nodes, initializer: inits, input: [vi(input, [1, 3, S, S])], output: [vi(output, outDims)] });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'wayside-tests',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    graph,
    metadataProps: opts.names ? [onnx.StringStringEntryProto.create({ key: 'names', value: `{${classes.map((c, i) => `${i}: '${c}'`).join(', ')}}` })] : [],
  });
  return onnx.ModelProto.encode(model).finish();
}
