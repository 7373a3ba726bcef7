// Scoring a trained backbone's test split with onnxruntime-node: the serving path. The trainer's
// model.json says which ONNX input reads which array (`ingest:test/item.npy` from the dataset,
// `model:test_dense.npy` from the model's own output), so this needs no feature logic of its own.
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { decodeNpy, type DecodedNpy } from '../data/npy';
import { auc, logloss } from './metrics';
import { R4ecError } from '../errors';

export const CtrModelInfoSchema = z.object({
  kind: z.literal('ctr-backbone'),
  backbone: z.string(),
  onnx: z.object({
    file: z.string().min(1),
    output: z.string().min(1),
    inputs: z
      .array(
        z.object({
          name: z.string().min(1),
          feature: z.string().min(1),
          dtype: z.enum(['int32', 'float32']),
          source: z.string().regex(/^(ingest|model):[\w./-]+\.npy$/, 'ingest:<file>.npy or model:<file>.npy'),
        }),
      )
      .nonempty(),
  }),
});
export type CtrModelInfo = z.infer<typeof CtrModelInfoSchema>;

export interface ScoreSources {
  /** Bytes of a file of the ingest output ("test/item.npy"). */
  ingest(name: string): Promise<Uint8Array>;
  /** Bytes of a file of the model output ("model.onnx", "test_dense.npy"). */
  model(name: string): Promise<Uint8Array>;
}

export interface ScoreResult {
  probs: Float32Array;
  auc: number;
  logloss: number;
  n: number;
}

export class ScoreError extends R4ecError {
  constructor(message: string) {
    super(message, 'ScoreError');
    this.name = 'ScoreError';
  }
}

function asInput(a: DecodedNpy, dtype: 'int32' | 'float32', where: string): { data: Int32Array | Float32Array; width: number; rows: number } {
  const rows = a.shape[0] ?? 0;
  const width = a.shape.slice(1).reduce((x, y) => x * y, 1);
  if (dtype === 'float32') {
    if (a.dtype !== 'float32') throw new ScoreError(`${where}: expected float32, got ${a.dtype}`);
    return { data: a.data as Float32Array, width, rows };
  }
  if (a.dtype === 'int32') return { data: a.data as Int32Array, width, rows };
  if (a.dtype === 'int8' || a.dtype === 'int16' || a.dtype === 'uint8') return { data: Int32Array.from(a.data as Int8Array), width, rows };
  throw new ScoreError(`${where}: expected integer ids, got ${a.dtype}`);
}

/** Probabilities for every test sample (in test-split order) and their AUC / LogLoss. */
export async function scoreTestSplit(info: CtrModelInfo, src: ScoreSources, opts: { batchSize?: number; threads?: number } = {}): Promise<ScoreResult> {
  const batch = opts.batchSize ?? 4096;
  const labelsNpy = decodeNpy(await src.ingest('test/label.npy'), 'test/label.npy');
  const labels = labelsNpy.data as Int8Array;
  const n = labels.length;
  const inputs = [];
  for (const spec of info.onnx.inputs) {
    const [where, file] = spec.source.split(':') as ['ingest' | 'model', string];
    const bytes = where === 'ingest' ? await src.ingest(file) : await src.model(file);
    const arr = asInput(decodeNpy(bytes, file), spec.dtype, `${spec.source} (ONNX input ${spec.name})`);
    if (arr.rows !== n) throw new ScoreError(`${spec.source}: ${arr.rows} rows, test/label.npy has ${n}`);
    inputs.push({ ...spec, ...arr });
  }
  const session = await ort.InferenceSession.create(Buffer.from(await src.model(info.onnx.file)), {
    executionProviders: ['cpu'],
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  });
  try {
    const probs = new Float32Array(n);
    for (let s = 0; s < n; s += batch) {
      const b = Math.min(batch, n - s);
      const feeds: Record<string, ort.Tensor> = {};
      for (const x of inputs) {
        const dims = x.width === 1 ? [b] : [b, x.width];
        const slice = x.data.subarray(s * x.width, (s + b) * x.width);
        feeds[x.name] = x.dtype === 'int32' ? new ort.Tensor('int32', slice as Int32Array, dims) : new ort.Tensor('float32', slice as Float32Array, dims);
      }
      const out = await session.run(feeds);
      const y = out[info.onnx.output];
      if (!y) throw new ScoreError(`the model has no output "${info.onnx.output}"`);
      probs.set(y.data as Float32Array, s);
    }
    return { probs, auc: auc(labels, probs), logloss: logloss(labels, probs), n };
  } finally {
    await session.release();
  }
}
