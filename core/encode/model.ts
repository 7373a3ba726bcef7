// A sentence encoder over any BERT-style ONNX model directory:
//   model.onnx        inputs input_ids, attention_mask (token_type_ids optional); output [batch, seq, dim]
//                     token states (or an already pooled [batch, dim])
//   tokenizer.json    a Hugging Face fast-tokenizer file, read by HF's own Rust tokenizers (npm `tokenizers`)
//   r4ec-encoder.json { pooling: cls|mean, normalize, maxLength, ... } (EncoderConfigSchema)
// `scripts/export-encoder.py` writes such a directory from a Hugging Face model (README: BGE-M3).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from 'tokenizers';
import { z } from 'zod';
import { DataError } from '../data/errors';
import { R4ecError } from '../errors';

export const ENCODER_CONFIG_FILE = 'r4ec-encoder.json';

export const EncoderConfigSchema = z
  .object({
    name: z.string().min(1).optional(),
    /** `cls`: the first token's state (BGE, BGE-M3); `mean`: mask-weighted mean (sentence-transformers MiniLM). */
    pooling: z.enum(['cls', 'mean']),
    /** L2-normalise each vector (as sentence-transformers' Normalize module). */
    normalize: z.boolean(),
    /** Tokens per text including special tokens; longer texts are truncated (as `tokenizers`' truncation). */
    maxLength: z.number().int().min(2),
    /** Expected vector size; checked against the model when given. */
    dim: z.number().int().positive().optional(),
    /** Output to read; default `last_hidden_state` when the model has it, else its first output. */
    output: z.string().min(1).optional(),
    /** Padding token id; default the tokenizer's padding config, its [PAD]/<pad> token, else 0. */
    padId: z.number().int().min(0).optional(),
  })
  .passthrough();
export type EncoderConfig = z.infer<typeof EncoderConfigSchema>;

export type ExecutionProvider = 'cpu' | 'cuda';

/** 128 texts of 512 tokens: far above what the test encoder's batches reach. */
export const DEFAULT_MAX_BATCH_TOKENS = 65_536;

export interface EncodeOptions {
  /** Texts per model call at most. */
  batchSize?: number;
  /** Padded tokens (texts × longest) per model call at most; one text always fits. */
  maxBatchTokens?: number;
  /** Called after every model call (heartbeats). */
  onBatch?: () => void;
}

export interface OpenEncoderOptions {
  /** In order of preference; `cuda` needs the CUDA EP binaries (README, "GPU"). */
  executionProviders?: readonly ExecutionProvider[];
  /** ORT intra-op threads; 0 = ORT's default (one per physical core). */
  threads?: number;
  /** The CUDA device ordinal for the `cuda` provider (the gpu worker's device pool hands them out). */
  deviceId?: number;
}

export class EncoderError extends R4ecError {
  constructor(message: string) {
    super(message, 'BadEncoder');
    this.name = 'EncoderError';
  }
}

/** Reads and validates `<dir>/r4ec-encoder.json`, naming the field that is wrong. */
export async function readEncoderConfig(dir: string): Promise<EncoderConfig> {
  const file = join(dir, ENCODER_CONFIG_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DataError(file, 0, '(file)', 'an encoder config { pooling, normalize, maxLength } (scripts/export-encoder.py writes one)');
    }
    throw new DataError(file, 0, '(file)', 'valid JSON', String((err as Error).message));
  }
  const r = EncoderConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new DataError(file, 0, issue.path.join('.') || '(root)', issue.message);
  }
  return r.data;
}

/**
 * Identity of an encoder directory for stage keys: the config plus the content hash of every file
 * in it (model.onnx, external weights of models over 2 GB, tokenizer files). Hashes are remembered
 * per (path, size, mtime), so a worker reads a 2 GB model once.
 */
export async function encoderIdentity(dir: string, cache?: Map<string, string>): Promise<{ config: EncoderConfig; files: Record<string, string> }> {
  const config = await readEncoderConfig(dir);
  const hashFile = async (p: string): Promise<string> => {
    const s = await stat(p);
    const memo = `${p}:${s.size}:${s.mtimeMs}`;
    const hit = cache?.get(memo);
    if (hit) return hit;
    const h = createHash('sha256');
    for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
    const digest = h.digest('hex');
    cache?.set(memo, digest);
    return digest;
  };
  const files: Record<string, string> = {};
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.') && e.name !== ENCODER_CONFIG_FILE);
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isFile() || (e.isSymbolicLink() && (await stat(p)).isFile())) files[e.name] = await hashFile(p);
  }
  if (!files['model.onnx']) throw new EncoderError(`encoder directory ${dir} has no model.onnx`);
  return { config, files };
}

interface Tokenized {
  ids: number[];
  typeIds: number[];
}

export class OnnxEncoder {
  private constructor(
    readonly dir: string,
    readonly config: EncoderConfig,
    readonly dim: number,
    private readonly session: ort.InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly padId: number,
    private readonly outputName: string,
    private readonly intInputs: 'int64' | 'int32',
  ) {}

  static async open(dir: string, opts: OpenEncoderOptions = {}): Promise<OnnxEncoder> {
    for (const f of ['model.onnx', 'tokenizer.json']) {
      if (!existsSync(join(dir, f))) {
        throw new EncoderError(
          `encoder directory ${dir} has no ${f}: expected model.onnx + tokenizer.json + ${ENCODER_CONFIG_FILE} ` +
            `(run scripts/setup.sh for the test encoder, or scripts/export-encoder.py for your model)`,
        );
      }
    }
    const config = await readEncoderConfig(dir);
    const tokenizerJson = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as { padding?: { pad_id?: number } | null };
    const tokenizer = Tokenizer.fromFile(join(dir, 'tokenizer.json'));
    // Padding is ours (per length bucket); truncation is the tokenizer's, so it matches HF exactly.
    tokenizer.disablePadding();
    tokenizer.setTruncation(config.maxLength);
    const padId = config.padId ?? tokenizerJson.padding?.pad_id ?? tokenizer.tokenToId('[PAD]') ?? tokenizer.tokenToId('<pad>') ?? 0;

    const providers = (opts.executionProviders ?? ['cpu']).map((p) => (p === 'cuda' ? 'cuda' : 'cpu'));
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(join(dir, 'model.onnx'), {
        executionProviders: providers.map((p) => (p === 'cuda' && opts.deviceId !== undefined ? { name: 'cuda', deviceId: opts.deviceId } : p)),
        graphOptimizationLevel: 'all',
        ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
      });
    } catch (err) {
      const hint = providers.includes('cuda')
        ? ' (the CUDA execution provider needs its binaries installed: README, "GPU"; or set encode.executionProviders: [cpu])'
        : '';
      throw new EncoderError(`cannot load ${join(dir, 'model.onnx')}: ${(err as Error).message}${hint}`);
    }
    const known = new Set(['input_ids', 'attention_mask', 'token_type_ids']);
    const unknown = session.inputNames.filter((n) => !known.has(n));
    if (unknown.length || !session.inputNames.includes('input_ids')) {
      throw new EncoderError(
        `${dir}/model.onnx takes inputs [${session.inputNames.join(', ')}]; expected input_ids, attention_mask and optionally token_type_ids`,
      );
    }
    const idsMeta = session.inputMetadata.find((m) => m.name === 'input_ids');
    const intInputs = idsMeta && idsMeta.isTensor && idsMeta.type === 'int32' ? 'int32' : 'int64';
    const outputName = config.output ?? (session.outputNames.includes('last_hidden_state') ? 'last_hidden_state' : session.outputNames[0]!);
    if (!session.outputNames.includes(outputName)) {
      throw new EncoderError(`${dir}/model.onnx has no output "${outputName}" (outputs: ${session.outputNames.join(', ')})`);
    }
    const enc = new OnnxEncoder(dir, config, 0, session, tokenizer, padId, outputName, intInputs);
    // One probe run tells the real dimension, so a config that names the wrong one fails now, not mid-run.
    const probe = await enc.runBatch([await enc.tokenizeOne('probe')]);
    const dim = probe.length;
    if (config.dim !== undefined && config.dim !== dim) {
      throw new EncoderError(`${dir}: ${ENCODER_CONFIG_FILE} says dim ${config.dim} but the model produces ${dim}`);
    }
    return new OnnxEncoder(dir, config, dim, session, tokenizer, padId, outputName, intInputs);
  }

  async close(): Promise<void> {
    await this.session.release();
  }

  /** Token counts after truncation (special tokens included), for length bucketing and benchmarks. */
  async tokenize(texts: readonly string[]): Promise<Tokenized[]> {
    if (texts.length === 0) return [];
    const encs = await this.tokenizer.encodeBatch([...texts]);
    return encs.map((e) => ({ ids: e.getIds(), typeIds: e.getTypeIds() }));
  }

  private async tokenizeOne(text: string): Promise<Tokenized> {
    return (await this.tokenize([text]))[0]!;
  }

  /**
   * Vectors for `texts`, row i ↔ texts[i], as one [texts.length × dim] float32 matrix. Texts are
   * sorted by token length and batched so each batch pads only to its own longest text; a batch
   * also stops at `maxBatchTokens` padded tokens, so a few very long texts (BGE-M3 reads 8192
   * tokens) run in small batches instead of exhausting memory.
   */
  async encode(texts: readonly string[], opts: EncodeOptions = {}): Promise<Float32Array> {
    const batchSize = opts.batchSize ?? 32;
    const maxTokens = opts.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS;
    const out = new Float32Array(texts.length * this.dim);
    const toks = await this.tokenize(texts);
    const order = toks.map((_, i) => i).sort((a, b) => toks[a]!.ids.length - toks[b]!.ids.length || a - b);
    let start = 0;
    while (start < order.length) {
      let end = start + 1;
      // Ascending lengths: the candidate is the batch's new longest text.
      while (end < order.length && end - start < batchSize && (end - start + 1) * toks[order[end]!]!.ids.length <= maxTokens) end++;
      const idx = order.slice(start, end);
      const vecs = await this.runBatch(idx.map((i) => toks[i]!));
      idx.forEach((row, k) => out.set(vecs.subarray(k * this.dim, (k + 1) * this.dim), row * this.dim));
      opts.onBatch?.();
      start = end;
    }
    return out;
  }

  /** One padded batch through the model; returns pooled (and normalised) rows. */
  private async runBatch(batch: Tokenized[]): Promise<Float32Array> {
    const B = batch.length;
    // At least one position: a tokenizer without special tokens can turn an empty text into no tokens.
    const L = Math.max(1, ...batch.map((t) => t.ids.length));
    const make = (fill: (b: number, j: number) => number): ort.Tensor => {
      if (this.intInputs === 'int32') {
        const a = new Int32Array(B * L);
        for (let b = 0; b < B; b++) for (let j = 0; j < L; j++) a[b * L + j] = fill(b, j);
        return new ort.Tensor('int32', a, [B, L]);
      }
      const a = new BigInt64Array(B * L);
      for (let b = 0; b < B; b++) for (let j = 0; j < L; j++) a[b * L + j] = BigInt(fill(b, j));
      return new ort.Tensor('int64', a, [B, L]);
    };
    const len = batch.map((t) => t.ids.length);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: make((b, j) => (j < len[b]! ? batch[b]!.ids[j]! : this.padId)),
    };
    const names = this.session.inputNames;
    if (names.includes('attention_mask')) feeds.attention_mask = make((b, j) => (j < len[b]! ? 1 : 0));
    if (names.includes('token_type_ids')) feeds.token_type_ids = make((b, j) => (j < len[b]! ? (batch[b]!.typeIds[j] ?? 0) : 0));

    const results = await this.session.run(feeds, [this.outputName]);
    const t = results[this.outputName]!;
    const data = t.data as Float32Array;
    if (t.type !== 'float32') throw new EncoderError(`${this.dir}/model.onnx output ${this.outputName} is ${t.type}, expected float32`);
    let pooled: Float32Array;
    if (t.dims.length === 2) {
      // Already pooled by the graph (e.g. a `sentence_embedding` output).
      pooled = new Float32Array(data);
    } else if (t.dims.length === 3) {
      const H = Number(t.dims[2]);
      pooled = new Float32Array(B * H);
      for (let b = 0; b < B; b++) {
        const row = pooled.subarray(b * H, (b + 1) * H);
        const base = b * L * H;
        if (this.config.pooling === 'cls') {
          row.set(data.subarray(base, base + H));
        } else {
          // Sum the unmasked token states, then divide once (sentence-transformers' mean pooling).
          for (let j = 0; j < len[b]!; j++) {
            const off = base + j * H;
            for (let h = 0; h < H; h++) row[h]! += data[off + h]!;
          }
          const n = Math.max(len[b]!, 1e-9);
          for (let h = 0; h < H; h++) row[h]! /= n;
        }
      }
    } else {
      throw new EncoderError(`${this.dir}/model.onnx output ${this.outputName} has shape [${t.dims.join(', ')}], expected [batch, seq, dim] or [batch, dim]`);
    }
    for (const v of Object.values(results)) v.dispose?.();
    if (this.config.normalize) {
      const H = pooled.length / B;
      for (let b = 0; b < B; b++) {
        const row = pooled.subarray(b * H, (b + 1) * H);
        let s = 0;
        for (let h = 0; h < H; h++) s += row[h]! * row[h]!;
        // As torch.nn.functional.normalize: divide by max(norm, eps).
        const norm = Math.max(Math.sqrt(s), 1e-12);
        for (let h = 0; h < H; h++) row[h]! /= norm;
      }
    }
    return pooled;
  }
}
