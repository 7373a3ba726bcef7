// The one schema for the whole pipeline. Pure zod: no I/O here (loading lives in runtime/config.ts).
// Every section has defaults, so `{}` is a valid config: the embedded default (local dev server,
// simulator LLM, synthetic data).
import { z } from 'zod';
import { BACKBONES, QUEUE_KINDS, VARIANTS } from './names';

const positiveInt = z.number().int().positive();
const rate = z.number().min(0).max(1);

const URL_EXAMPLE = '"http://localhost:8000/v1"';

/** Why `s` is not an http(s) URL with a host, with the fix; undefined when it is one. */
export function httpUrlProblem(s: string): string | undefined {
  const expected = `expected an http(s) URL with a host, got ${JSON.stringify(s)}`;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s)?.[1];
  if (scheme === undefined) {
    // `localhost:8000/v1` even parses as a URL (scheme "localhost:"): the scheme was left out.
    const guess = `http://${s.replace(/^\/+/, '')}`;
    return URL.canParse(guess) && httpUrlProblem(guess) === undefined ? `${expected}: add the scheme, e.g. ${JSON.stringify(guess)}` : `${expected}, e.g. ${URL_EXAMPLE}`;
  }
  if (!/^https?$/i.test(scheme)) return `${expected}: the scheme must be http:// or https://, not ${scheme}://`;
  // The WHATWG parser reads `http:///v1` as host "v1": check the authority as written.
  const authority = s.slice(scheme.length + 3).split(/[/?#]/)[0]!;
  const host = authority.replace(/^[^@]*@/, '').replace(/:\d*$/, '');
  if (host === '' || !URL.canParse(s)) return `${expected}: it names no valid host, e.g. ${URL_EXAMPLE}`;
  return undefined;
}

/** An endpoint URL: http(s) with a host. */
const httpUrl = () =>
  z.string().superRefine((s, ctx) => {
    const problem = httpUrlProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const TemporalSchema = z
  .object({
    /** host:port of a Temporal frontend; absent = start/use the local dev server. */
    address: z.string().min(1).optional(),
    namespace: z.string().min(1).default('default'),
    tls: z
      .object({
        certPath: z.string().min(1),
        keyPath: z.string().min(1),
        caPath: z.string().min(1).optional(),
        serverName: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Name of the env var holding a Temporal Cloud API key (the key itself never enters config). */
    apiKeyEnv: z.string().min(1).optional(),
    /** The local dev server (used only when `address` is absent). */
    devServer: z
      .object({
        port: z.number().int().min(0).max(65535).default(7233),
        uiPort: z.number().int().min(0).max(65535).default(8233),
        /**
         * Its SQLite file runs in WAL mode. `normal`: survives any process crash (kill -9 of the
         * server) and commits ~2× faster; an OS crash or power loss may lose the last moments, which
         * the next run redoes. `full`: every commit reaches the disk before it is acknowledged.
         */
        sync: z.enum(['normal', 'full']).default('normal'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const queue = (name: string, slots: number) =>
  z.object({ name: z.string().min(1).default(name), slots: positiveInt.default(slots) }).strict().prefault({});
export const QueuesSchema = z
  .object({
    cpu: queue('r4ec-cpu', 8),
    llm: queue('r4ec-llm', 16),
    gpu: z
      .object({
        name: z.string().min(1).default('r4ec-gpu'),
        slots: positiveInt.default(1),
        /**
         * The GPUs this machine's gpu worker hands out, one per trainer process / encoder session, as
         * CUDA_VISIBLE_DEVICES takes them (indices or GPU UUIDs). Default: the worker's own
         * CUDA_VISIBLE_DEVICES, else every GPU `nvidia-smi -L` lists, else none (CPU).
         */
        devices: z.array(z.union([z.number().int().min(0), z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a GPU index or UUID')])).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const DatasetSchema = z
  .object({
    kind: z.enum(['ml-1m', 'amazon-books', 'synthetic']).default('synthetic'),
    /** Directory with the raw files; for `synthetic`, where `r4ec data synth` wrote them (default: state dir). */
    path: z.string().min(1).optional(),
    /** MovieLens: ratings file name inside `path` (plain or .gz); Amazon: the reviews file. */
    ratingsFile: z.string().min(1).optional(),
    historyLength: positiveInt.default(10),
    /** `synthetic` without a `path`: the size of the generated set (a smaller one keeps a run on a real model short). */
    synthetic: z
      .object({ users: positiveInt.default(300), items: z.number().int().min(60).default(400), seed: z.number().int().default(1) })
      .strict()
      .prefault({}),
    trainFraction: z.number().gt(0).lt(1).default(0.8),
    /**
     * A line repeating an earlier line's (user, item, timestamp): `error` names both lines;
     * `drop` keeps the first, drops the repeats and counts them (the ingest summary's duplicatesDropped).
     */
    duplicates: z.enum(['error', 'drop']).default('error'),
    /** Amazon-Books: the authors' k-core filter (60-core users, 40-core items). */
    kCore: z
      .object({ user: positiveInt.default(60), item: positiveInt.default(40) })
      .strict()
      .prefault({}),
  })
  .strict();

export const EndpointSchema = z
  .object({
    baseUrl: httpUrl(),
    model: z.string().min(1),
    /** Name of the env var with the API key; the key is read by the llm worker only. */
    apiKeyEnv: z.string().min(1).optional(),
    concurrency: positiveInt.default(16),
    requestsPerMinute: positiveInt.optional(),
    timeoutMs: positiveInt.default(120_000),
    temperature: z.number().min(0).max(2).default(0.7),
    topP: z.number().gt(0).max(1).default(1),
    maxTokens: positiveInt.default(1024),
    /**
     * Where the serving host reads the LoRA adapters the finetune stage trained (vLLM's
     * /v1/load_lora_adapter takes a path on the server). Absent: the llm worker's own local copy,
     * right only when the server runs on the worker's machine (docs/store.md, "Adapters on a serving host").
     */
    adapters: z
      .object({
        /** A directory this worker can write that the serving host also mounts (a shared volume): each adapter is copied there from the store. */
        dir: z.string().min(1).optional(),
        /** The same directory as the serving host sees it (default: `dir`); alone, a directory the serving host keeps in sync with the store's `adapters/` prefix. */
        serverDir: z.string().min(1).optional(),
      })
      .strict()
      .refine((a) => a.dir !== undefined || a.serverDir !== undefined, 'give adapters.dir (a shared volume this worker writes) and/or adapters.serverDir (the path on the serving host)')
      .optional(),
  })
  .strict();

/**
 * The teacher's Batch API path: its requests go out as JSONL files answered within the completion
 * window at the batch price, and are waited for with durable timers between polls.
 */
export const TeacherBatchSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** The only window OpenAI offers. */
    completionWindow: z.literal('24h').default('24h'),
    /** Requests per batch file (OpenAI: at most 50,000; files are also kept under 200 MB). */
    maxRequestsPerFile: z.number().int().min(1).max(50_000).default(50_000),
    /** Seconds between two polls of an open batch. */
    pollIntervalSeconds: z.number().positive().default(60),
  })
  .strict();

export const TeacherEndpointSchema = EndpointSchema.extend({ batch: TeacherBatchSchema.prefault({}) }).strict();

/** USD per million tokens; `batchDiscount` is the share taken off for Batch API requests. */
export const ModelPriceSchema = z
  .object({
    inputPerMTok: z.number().min(0),
    outputPerMTok: z.number().min(0),
    batchDiscount: rate.default(0.5),
  })
  .strict();

export const SimulatorSchema = z
  .object({
    latencyMs: z.number().int().min(0).default(0),
    malformedRate: rate.default(0),
    rateLimitRate: rate.default(0),
    serverErrorRate: rate.default(0),
    /** 0 = pick a free loopback port. */
    port: z.number().int().min(0).max(65535).default(0),
    seed: z.number().int().default(0),
    /** Base model name the simulator serves (every role without an endpoint uses it). */
    model: z.string().min(1).default('r4ec-sim'),
    /** Retry-After sent with injected 429s. */
    retryAfterSeconds: z.number().min(0).default(1),
    /** Catalog file (JSON list of {id,title,year,genres}, or a dataset meta.json); absent = the dataset's. */
    catalog: z.string().min(1).optional(),
  })
  .strict();

/**
 * The local model server (`r4ec serve-model`: a Hugging Face model with the LoRA adapters the
 * finetune stage trained, transformers + peft, batched) answering the roles listed in `roles`. The
 * llm worker starts it beside the simulator and stops it with itself; the finetune stage loads each
 * adapter into it, and refine's actor and reflection calls name their adapter.
 */
export const ServeModelSchema = z
  .object({
    /** Roles it answers; each must have no endpoint of its own. The teacher is never served here (it must know the catalog). */
    roles: z.array(z.enum(['actor', 'reflection'])).default([]),
    /** Hugging Face model directory. Absent: finetune.baseModel (the adapters' base), else the installed SmolLM2-135M-Instruct (.tools/smollm2). */
    base: z.string().min(1).optional(),
    /** 0 = pick a free loopback port. */
    port: z.number().int().min(0).max(65535).default(0),
    /** CPU threads of the model. */
    threads: positiveInt.default(2),
    /** Requests decoded together at most. */
    maxBatch: positiveInt.default(16),
    /** Requests in flight from this worker at once. */
    concurrency: positiveInt.default(16),
    /** Per request: a busy CPU decoding a full batch can take minutes. */
    timeoutMs: positiveInt.default(600_000),
    temperature: z.number().min(0).max(2).default(0.7),
    topP: z.number().gt(0).max(1).default(0.9),
    /** A small model that misses its end tag rambles on: keep its answers short. */
    maxTokens: positiveInt.default(256),
  })
  .strict();

export const LlmSchema = z
  .object({
    teacher: TeacherEndpointSchema.optional(),
    actor: EndpointSchema.optional(),
    reflection: EndpointSchema.optional(),
    simulator: SimulatorSchema.prefault({}),
    serveModel: ServeModelSchema.prefault({}),
    /** Re-asks after an unparsable answer before `failed_format`. */
    formatRetries: z.number().int().min(0).default(2),
    transport: z
      .object({
        maxAttempts: positiveInt.default(5),
        initialIntervalMs: positiveInt.default(1000),
        backoffCoefficient: z.number().min(1).default(2),
        maximumIntervalMs: positiveInt.default(30_000),
      })
      .strict()
      .prefault({}),
    /** Run-level cap on calls, tokens and money (USD): new work stops cleanly (`skipped_call_cap`) once reached. */
    cap: z.object({ maxCalls: positiveInt.optional(), maxTokens: positiveInt.optional(), maxUsd: z.number().positive().optional() }).strict().prefault({}),
    /**
     * Prices per model name (a dated snapshot such as `gpt-4o-2024-08-06` falls back to `gpt-4o`).
     * Added to, and overriding, the built-in list of common OpenAI models (core/llm/prices.ts).
     */
    prices: z.record(z.string().min(1), ModelPriceSchema).default({}),
  })
  .strict()
  .superRefine((llm, ctx) => {
    for (const role of llm.serveModel.roles) {
      if (llm[role] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [role], message: `llm.${role} has an endpoint and llm.serveModel.roles lists "${role}": keep one of them` });
      }
    }
  });

/**
 * How a fan-out stage (construct, refine) runs its entities. `failed` (default): entities run in
 * batches inside heartbeating activities, and only an entity that ends failed_format or
 * failed_transport gets its own entity workflow (every prompt and answer in the Web UI); `all`: a
 * workflow per entity (`window` at a time, `batchPerRun` per workflow run).
 */
export const ENTITY_WORKFLOWS = ['failed', 'all'] as const;
export type EntityWorkflows = (typeof ENTITY_WORKFLOWS)[number];

function entityExecution() {
  return {
    entityWorkflows: z.enum(ENTITY_WORKFLOWS).default('failed'),
    /** Entities per batch activity. */
    batchSize: positiveInt.max(1000).default(50),
    /** Batch activities running at once per stage workflow. */
    batchWindow: positiveInt.default(4),
    /** Batch activities started per workflow run before continue-as-new. */
    batchesPerRun: positiveInt.default(200),
  };
}

export const ConstructSchema = z
  .object({
    sampleFraction: z.number().gt(0).max(1).default(0.4),
    inferencesPerSample: positiveInt.default(2),
    /** Share of the inferences that may fail (failed_format, failed_transport) for the output to be committed. */
    failureLimit: rate.default(0.2),
    seed: z.number().int().default(42),
    /** Children running at once per domain. */
    window: positiveInt.default(64),
    /** Children started per workflow run before continue-as-new. */
    batchPerRun: positiveInt.default(500),
    /** A teacher call (or a batch of inferences, or the stage's plan, pages and assembly) whose worker stops heartbeating this long is retried elsewhere. */
    heartbeatTimeoutSeconds: positiveInt.default(30),
    ...entityExecution(),
  })
  .strict();

export const FinetuneSchema = z
  .object({
    backend: z.enum(['local', 'openai', 'none']).default('local'),
    /** Local path of the base model (HF format) for `local`; model name for `openai`. Absent: a tiny model is built. */
    baseModel: z.string().min(1).optional(),
    lora: z
      .object({
        r: positiveInt.default(8),
        alpha: positiveInt.default(16),
        dropout: z.number().min(0).lt(1).default(0.05),
        targetModules: z.union([z.literal('all-linear'), z.array(z.string().min(1)).nonempty()]).default('all-linear'),
        epochs: z.number().positive().default(3),
        learningRate: z.number().positive().default(1e-4),
        scheduler: z.enum(['cosine', 'linear', 'constant']).default('cosine'),
        warmupRatio: z.number().min(0).lt(1).default(0.1),
        batchSize: positiveInt.default(16),
        cutoffLen: positiveInt.default(2048),
        checkpointEvery: positiveInt.default(50),
        /** Examples per forward pass (gradient accumulation up to batchSize); absent: the whole batch on a GPU, on the CPU as many as fit 1024 padded tokens (activations grow with the tokens of a pass). Not part of the job key. */
        microBatchSize: positiveInt.optional(),
        gradientCheckpointing: z.boolean().default(false),
        seed: z.number().int().default(0),
      })
      .strict()
      .prefault({}),
    /** Where the local trainer runs: `auto` = CUDA when torch sees one. */
    device: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
    /** torch CPU threads of the local trainer (absent = all cores); 1 is fastest on a busy shared CPU. */
    cpuThreads: positiveInt.optional(),
    /** Retries of a failed/killed job (each resumes from the newest checkpoint or re-attaches). */
    maxAttempts: positiveInt.default(5),
    /** The activities heartbeat while they wait on the trainer (and plan, commit); a dead worker is noticed after this. */
    heartbeatTimeoutSeconds: positiveInt.default(30),
    /** How often the trainer's progress log (or the provider's job) is polled. */
    pollIntervalMs: positiveInt.default(1000),
    /** After a cancel: how long the trainer gets to write its checkpoint before SIGKILL. */
    stopGraceSeconds: positiveInt.default(120),
    /** `openai` backend: the fine-tuning API (any compatible server via baseUrl); the key is read by the gpu worker. */
    openai: z
      .object({
        baseUrl: httpUrl().optional(),
        apiKeyEnv: z.string().min(1).default('OPENAI_API_KEY'),
        pollIntervalSeconds: z.number().positive().default(30),
        /** Multiplies the provider's default learning rate; absent = provider default. */
        learningRateMultiplier: z.number().positive().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const RefineSchema = z
  .object({
    strategy: z.enum(['iterative', 'filter']).default('iterative'),
    maxIterations: z.number().int().min(0).default(1),
    filterSamples: positiveInt.default(3),
    /** Share of the entities that ran which may fail (failed_format, failed_transport) for the output to be committed. */
    failureLimit: rate.default(0.2),
    /** Active-user strategy: full inference only for users with >= this many training interactions (0 = all). */
    activeUserMinInteractions: z.number().int().min(0).default(0),
    historyLength: positiveInt.default(10),
    window: positiveInt.default(64),
    batchPerRun: positiveInt.default(500),
    /** An LLM call or a batch of entities (or the stage's plan, pages and assembly) whose worker stops heartbeating this long is retried elsewhere. */
    heartbeatTimeoutSeconds: positiveInt.default(30),
    ...entityExecution(),
  })
  .strict();

export const EncodeSchema = z
  .object({
    /** Directory with model.onnx + tokenizer files + r4ec-encoder.json; absent = the test encoder from setup. */
    modelDir: z.string().min(1).optional(),
    batchSize: positiveInt.default(32),
    shardSize: positiveInt.default(512),
    executionProviders: z.array(z.enum(['cpu', 'cuda'])).nonempty().default(['cpu']),
    /** Padded tokens per model call at most (texts × longest text), so long texts batch small. */
    maxBatchTokens: positiveInt.default(65_536),
    /** onnxruntime intra-op threads; 0 = its default (one per physical core). */
    threads: z.number().int().min(0).default(0),
    /** A worker that stops heartbeating this long is presumed dead; its shards resume elsewhere (the activities beat from a timer). */
    heartbeatTimeoutSeconds: positiveInt.default(30),
  })
  .strict();

export const TrainSchema = z
  .object({
    backbones: z.array(z.enum(BACKBONES)).nonempty().default([...BACKBONES]),
    variants: z.array(z.enum(VARIANTS)).nonempty().default([...VARIANTS]),
    features: z.enum(['paper', 'full']).default('paper'),
    seeds: z.array(z.number().int()).nonempty().default([1]),
    epochs: positiveInt.default(20),
    patience: positiveInt.default(3),
    batchSize: positiveInt.default(1024),
    learningRate: z.number().positive().default(1e-3),
    embeddingDim: positiveInt.default(32),
    adaptor: z.enum(['mlp', 'hybrid-expert']).default('mlp'),
    /** Fraction of train held out (by sample order per user) for early stopping; never test. */
    validationFraction: z.number().gt(0).lt(1).default(0.1),
    device: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
    /** More feature sets to train besides `features` (the summary's `results`); all are in `byFeatures`. */
    featureSets: z.array(z.enum(['paper', 'full'])).optional(),
    /** Train the logistic-regression floor (trainer/ctr/floor.py) and report it as `train.floor`. */
    floor: z.boolean().default(true),
    weightDecay: z.number().min(0).default(0),
    dropout: z.number().min(0).lt(1).default(0),
    /** Final MLP of every backbone (KAR / R4ec: 200-80). */
    mlp: z.array(positiveInt).nonempty().default([200, 80]),
    /** Hidden layers of the knowledge connectors F_u, F_i (their output width is embeddingDim). */
    connector: z.array(positiveInt).nonempty().default([128]),
    /** Torch CPU threads per trainer process; 0 = torch's default. */
    threads: z.number().int().min(0).default(0),
    /**
     * How the knowledge tables are normalised before the connectors: `standardize` centres the rows
     * that carry knowledge and scales them to unit variance per coordinate on average (zero rows stay
     * zero); `none` feeds the encoder's vectors as they are.
     */
    knowledgeNorm: z.enum(['standardize', 'none']).default('standardize'),
    /** Add F_u(k_u) ⊙ F_i(k_i) as one more field beside F_u(k_u) and F_i(k_i): a user-item match an MLP alone learns slowly. */
    knowledgeCross: z.boolean().default(true),
    /**
     * Knowledge cutoff f (0 = off, at most 0.95): user u's knowledge describes only positions below
     * floor(f · train_end_u) of their sequence, item knowledge only interactions below each rater's
     * cutoff, so the knowledge never states the labels the model is trained on after it. Refine and
     * construct build their prompts from that prefix; the trainer handles samples inside it per
     * `knowledgeCutoffMode`. Base is never cut.
     */
    knowledgeCutoff: z.number().min(0).max(0.95).default(0),
    /** Knowledge variants' training samples inside the cutoff prefix: `mask` trains them with the zero knowledge row, `drop` leaves them out. */
    knowledgeCutoffMode: z.enum(['mask', 'drop']).default('mask'),
    /** Standard deviation of the Gaussian noise added to the normalised knowledge vectors while training (0 = none): it keeps per-entity vectors from being memorised. */
    knowledgeNoise: z.number().min(0).max(10).default(1),
    /** Validation metric for early stopping and the best epoch: LogLoss sees the overconfidence AUC ignores. */
    monitor: z.enum(['logloss', 'auc']).default('logloss'),
    /** Heartbeat timeout of a training activity (it heartbeats on a timer while its trainer runs): a worker silent this long is presumed dead and the job retried (the trainer resumes from its checkpoint). */
    heartbeatTimeoutSeconds: positiveInt.default(30),
  })
  .strict();

/**
 * An S3-compatible bucket shared by every worker. Credentials are not configured here: the AWS SDK's
 * standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, an instance or
 * container role) supplies them on each machine.
 */
export const S3StoreSchema = z
  .object({
    kind: z.literal('s3'),
    /** The bucket's name alone (AWS: 3-63 of a-z 0-9 . -; other servers allow more), not a URL or a path. */
    bucket: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'expected a bucket name (letters, digits, ".", "-", "_"), not a URL or path: put the key prefix in store.prefix and the server in store.endpoint'),
    /** Key prefix inside the bucket, e.g. "team/r4ec/" (several deployments can share a bucket). */
    prefix: z
      .string()
      .default('')
      .refine((p) => !p.startsWith('/') && !p.split('/').some((seg) => seg === '.' || seg === '..'), 'expected a relative key prefix like "team/r4ec/" (no leading "/", no "." or ".." segments)'),
    /** Any S3-compatible server (versitygw, Ceph RGW, R2, ...); absent = AWS S3 in `region`. */
    endpoint: httpUrl().optional(),
    region: z.string().min(1).default('us-east-1'),
    /** Path-style URLs (host/bucket/key); default: on when `endpoint` is set (most self-hosted servers need it). */
    forcePathStyle: z.boolean().optional(),
    /** Multipart part size for large files (at least 5). */
    partSizeMiB: z.number().int().min(5).max(5120).default(8),
    /** Parts uploaded at once per file. */
    uploadConcurrency: positiveInt.max(64).default(4),
  })
  .strict();

export const StoreSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('local'), path: z.string().min(1).optional() }).strict(),
    S3StoreSchema,
  ])
  .prefault({ kind: 'local' });

export const CodecSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Env var holding a base64 32-byte AES-256-GCM key. */
    keyEnv: z.string().min(1).default('R4EC_CODEC_KEY'),
    /** Port of `r4ec codec-server`. */
    serverPort: z.number().int().min(0).max(65535).default(8888),
  })
  .strict();

/**
 * How fast the work of a dead worker (kill -9, OOM, a lost machine) moves elsewhere. Every bookkeeping
 * activity (ingest, plans, pages of entities, assembly, commits, the report, the LLM preflight)
 * heartbeats from a side timer and is retried on another worker once it has been silent this long.
 * Each stage's long activities have their own setting (construct, finetune, encode, train).
 */
export const RecoverySchema = z
  .object({
    heartbeatTimeoutSeconds: positiveInt.default(30),
  })
  .strict();

export const R4ecConfigSchema = z
  .object({
    /** Human label; the run id is derived from dataset key + config hash unless given. */
    name: z.string().min(1).default('r4ec'),
    stateDir: z.string().min(1).optional(),
    temporal: TemporalSchema.prefault({}),
    queues: QueuesSchema.prefault({}),
    dataset: DatasetSchema.prefault({}),
    llm: LlmSchema.prefault({}),
    construct: ConstructSchema.prefault({}),
    finetune: FinetuneSchema.prefault({}),
    refine: RefineSchema.prefault({}),
    encode: EncodeSchema.prefault({}),
    train: TrainSchema.prefault({}),
    recovery: RecoverySchema.prefault({}),
    store: StoreSchema,
    codec: CodecSchema.prefault({}),
    schedule: z
      .object({ catchupWindowSeconds: positiveInt.default(3600) })
      .strict()
      .prefault({}),
    metrics: z.object({ port: z.number().int().min(0).max(65535).optional() }).strict().prefault({}),
  })
  .strict();

export type R4ecConfig = z.infer<typeof R4ecConfigSchema>;
export type R4ecConfigInput = z.input<typeof R4ecConfigSchema>;
export type EndpointConfig = z.infer<typeof EndpointSchema>;
export type ServeModelConfig = z.infer<typeof ServeModelSchema>;
export type TeacherEndpointConfig = z.infer<typeof TeacherEndpointSchema>;
export type ModelPrice = z.infer<typeof ModelPriceSchema>;
export type QueueKindName = (typeof QUEUE_KINDS)[number];
