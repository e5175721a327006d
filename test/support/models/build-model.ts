// Test support: tiny ONNX detection models whose outputs are known, written with onnx-proto, so
// the inference tests run the real onnxruntime on a real model file without shipping weights.
//
// The grid detector: input [1,3,S,S] float; an AveragePool with kernel = stride = S/grid gives
// each grid cell's channel means; class c's score in a cell is the mean of channel c (R, G, B),
// so a pure red square filling a cell is class 0 with score 1 there. Boxes are constants: the
// cell centre (cx, cy) and size (w = h = S/grid) in input pixels. Cells are numbered row-major
// (n = gy * grid + gx).
//   yolov8: output [1, 4+C, N] = Concat(boxes [1,4,N], scores [1,C,N])
//   yolov5: output [1, N, 5+C] = Transpose(Concat(boxes, objectness 1 [1,1,N], scores))
// Not shipped.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Node = InstanceType<typeof onnx.NodeProto>;
type Tensor = InstanceType<typeof onnx.TensorProto>;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

export interface GridDetectorOptions {
  /** Square input side in pixels (e.g. 64 or 640); must be a multiple of `grid`. */
  size: number;
  /** Cells per side. */
  grid: number;
  /** At most 3: class c scores channel c (R, G, B). */
  classes: string[];
  layout: 'yolov5' | 'yolov8';
  /** Write Ultralytics-style metadata `names` ("{0: 'person', 1: 'car'}"). */
  names?: boolean;
  inputName?: string;
}

function floats(name: string, dims: number[], values: ArrayLike<number>): Tensor {
  return onnx.TensorProto.create({ name, dataType: FLOAT, dims, floatData: Array.from(values) });
}
function ints(name: string, values: number[]): Tensor {
  return onnx.TensorProto.create({ name, dataType: INT64, dims: [values.length], int64Data: values });
}
function node(opType: string, input: string[], output: string[], attrs: Record<string, number[] | number> = {}): Node {
  const attribute = Object.entries(attrs).map(([name, v]) =>
    Array.isArray(v)
      ? onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v })
      : onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: v }),
  );
  return onnx.NodeProto.create({ opType, input, output, attribute });
}
function valueInfo(name: string, dims: number[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
}
function model(nodes: Node[], inits: Tensor[], input: [string, number[]], output: [string, number[]], meta: Record<string, string> = {}): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'wayside-test',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'grid',
      node: nodes,
      initializer: inits,
      input: [valueInfo(...input)],
      output: [valueInfo(...output)],
    },
    metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(m).finish();
}

/** Cell centres and size in input pixels, [1,4,N] row-major over cells. */
function cellBoxes(size: number, grid: number): Float32Array {
  const n = grid * grid;
  const cell = size / grid;
  const b = new Float32Array(4 * n);
  for (let gy = 0; gy < grid; gy++) {
    for (let gx = 0; gx < grid; gx++) {
      const i = gy * grid + gx;
      b[i] = (gx + 0.5) * cell;
      b[n + i] = (gy + 0.5) * cell;
      b[2 * n + i] = cell;
      b[3 * n + i] = cell;
    }
  }
  return b;
}

/** Ultralytics' metadata string: "{0: 'person', 1: 'car'}". */
export function ultralyticsNames(classes: string[]): string {
  return `{${classes.map((c, i) => `${i}: '${c}'`).join(', ')}}`;
}

/** Nodes: input (NCHW) -> scores [1,C,N] named 'scores'. */
function scoreNodes(input: string, size: number, grid: number, c: number): { nodes: Node[]; inits: Tensor[] } {
  const k = size / grid;
  const n = grid * grid;
  const nodes = [node('AveragePool', [input], ['pooled'], { kernel_shape: [k, k], strides: [k, k] })];
  const inits = [ints('shape_scores', [1, c, n])];
  if (c < 3) {
    inits.push(ints('sl_starts', [0]), ints('sl_ends', [c]), ints('sl_axes', [1]));
    nodes.push(node('Slice', ['pooled', 'sl_starts', 'sl_ends', 'sl_axes'], ['pooled_c']));
    nodes.push(node('Reshape', ['pooled_c', 'shape_scores'], ['scores']));
  } else {
    nodes.push(node('Reshape', ['pooled', 'shape_scores'], ['scores']));
  }
  return { nodes, inits };
}

function headNodes(layout: 'yolov5' | 'yolov8', size: number, grid: number, c: number, out: string): { nodes: Node[]; inits: Tensor[]; dims: number[] } {
  const n = grid * grid;
  const inits = [floats('boxes', [1, 4, n], cellBoxes(size, grid))];
  if (layout === 'yolov8') return { nodes: [node('Concat', ['boxes', 'scores'], [out], { axis: 1 })], inits, dims: [1, 4 + c, n] };
  inits.push(floats('objectness', [1, 1, n], new Float32Array(n).fill(1)));
  return {
    nodes: [node('Concat', ['boxes', 'objectness', 'scores'], ['head'], { axis: 1 }), node('Transpose', ['head'], [out], { perm: [0, 2, 1] })],
    inits,
    dims: [1, n, 5 + c],
  };
}

export function buildGridDetector(opts: GridDetectorOptions): Uint8Array {
  const { size, grid, classes, layout } = opts;
  const c = classes.length;
  if (c < 1 || c > 3) throw new Error(`buildGridDetector: 1-3 classes (one per colour channel), got ${c}`);
  if (size % grid !== 0) throw new Error(`buildGridDetector: size ${size} is not a multiple of grid ${grid}`);
  const input = opts.inputName ?? 'images';
  const scores = scoreNodes(input, size, grid, c);
  const head = headNodes(layout, size, grid, c, 'output0');
  return model(
    [...scores.nodes, ...head.nodes],
    [...scores.inits, ...head.inits],
    [input, [1, 3, size, size]],
    ['output0', head.dims],
    opts.names ? { names: ultralyticsNames(classes) } : {},
  );
}

/**
 * Models the engine must refuse with a clear error. 'wrong-input': input NHWC [1,64,64,3]
 * (transposed inside, so it runs); 'wrong-output': a rank-2 output [1, 6*16] (the yolov8 head
 * flattened), which fits no layout. Both: size 64, grid 4, classes person + car in metadata.
 */
export function buildBadModel(kind: 'wrong-input' | 'wrong-output'): Uint8Array {
  const size = 64;
  const grid = 4;
  const classes = ['person', 'car'];
  const meta = { names: ultralyticsNames(classes) };
  if (kind === 'wrong-input') {
    const scores = scoreNodes('nchw', size, grid, 2);
    const head = headNodes('yolov8', size, grid, 2, 'output0');
    return model(
      [node('Transpose', ['images'], ['nchw'], { perm: [0, 3, 1, 2] }), ...scores.nodes, ...head.nodes],
      [...scores.inits, ...head.inits],
      ['images', [1, size, size, 3]],
      ['output0', head.dims],
      meta,
    );
  }
  const scores = scoreNodes('images', size, grid, 2);
  const head = headNodes('yolov8', size, grid, 2, 'head8');
  const n = grid * grid;
  return model(
    [...scores.nodes, ...head.nodes, node('Reshape', ['head8', 'shape_flat'], ['output0'])],
    [...scores.inits, ...head.inits, ints('shape_flat', [1, 6 * n])],
    ['images', [1, 3, size, size]],
    ['output0', [1, 6 * n]],
    meta,
  );
}
