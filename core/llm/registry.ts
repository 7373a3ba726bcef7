// One LlmClient per role for a worker: the endpoint from config, or the simulator for every role
// that has none (docs/DESIGN.md, "The offline LLM"). The answer cache and the usage ledger live in the
// artifact store, so every worker on every machine shares them.
import { join } from 'node:path';
import type { LlmRole } from '../../config/names';
import type { EndpointConfig, R4ecConfig } from '../../config/schema';
import { roleSource } from '../rules/roles';
import { simulatorRequestTimeoutMs } from '../rules/timeouts';
import { LlmCache } from './cache';
import { LlmClient } from './client';
import { UsageLedger } from './usage';
import { BatchClient } from './batch';
import type { ArtifactStore } from '../store';

export type LlmConfig = R4ecConfig['llm'];

export interface LlmRegistryOptions {
  llm: LlmConfig;
  /** Where the answer cache and usage records live (the workers' shared store). */
  store?: ArtifactStore;
  /** Without a store: the cache and ledger go to this directory (tools and tests of one process). */
  stateDir: string;
  env: NodeJS.ProcessEnv;
  /** Base URL of a running simulator (`http://127.0.0.1:PORT`), used for roles without an endpoint. */
  simulatorUrl?: string;
  /** Concurrency towards the simulator (default: the llm queue's slots or 16). */
  simulatorConcurrency?: number;
  /** The local model server (`r4ec serve-model`) for the roles in llm.serveModel.roles: its base URL and base model's served name. */
  modelServer?: { url: string; model: string };
  fetch?: typeof fetch;
}

export function simulatorEndpoint(url: string, llm: LlmConfig, concurrency = 16): EndpointConfig {
  return {
    baseUrl: `${url.replace(/\/+$/, '')}/v1`,
    model: llm.simulator.model,
    concurrency,
    timeoutMs: simulatorRequestTimeoutMs(llm.simulator),
    temperature: 0.7,
    topP: 1,
    maxTokens: 1024,
  };
}

/** A role answered by the local model server: its base model by default (refine names an adapter per call). */
export function modelServerEndpoint(server: { url: string; model: string }, llm: LlmConfig): EndpointConfig {
  const s = llm.serveModel;
  return {
    baseUrl: `${server.url.replace(/\/+$/, '').replace(/\/v1$/, '')}/v1`,
    model: server.model,
    concurrency: s.concurrency,
    timeoutMs: s.timeoutMs,
    temperature: s.temperature,
    topP: s.topP,
    maxTokens: s.maxTokens,
  };
}

export class LlmRegistry {
  readonly cache: LlmCache;
  readonly ledger: UsageLedger;
  private readonly clients = new Map<LlmRole, LlmClient>();

  constructor(private readonly opts: LlmRegistryOptions) {
    this.cache = opts.store ? new LlmCache(opts.store) : new LlmCache(join(opts.stateDir, 'llm-cache'));
    this.ledger = opts.store ? new UsageLedger(opts.store) : new UsageLedger(join(opts.stateDir, 'llm-usage'));
  }

  get formatRetries(): number {
    return this.opts.llm.formatRetries;
  }

  /** True when `role` is answered by the simulator (reports say so). */
  usesSimulator(role: LlmRole): boolean {
    return roleSource(this.opts.llm, role) === 'simulator';
  }

  endpointFor(role: LlmRole): EndpointConfig {
    const configured = this.opts.llm[role];
    if (configured) return configured;
    if (roleSource(this.opts.llm, role) === 'serve-model') {
      if (!this.opts.modelServer) throw new Error(`role "${role}" is served by the local model server (llm.serveModel.roles), but this worker has none running`);
      return modelServerEndpoint(this.opts.modelServer, this.opts.llm);
    }
    if (!this.opts.simulatorUrl) {
      throw new Error(`no LLM endpoint for role "${role}": set llm.${role} in the config, or run the simulator (r4ec sim-llm)`);
    }
    return simulatorEndpoint(this.opts.simulatorUrl, this.opts.llm, this.opts.simulatorConcurrency);
  }

  /** The Batch API client on a role's endpoint, over the same cache and ledger (the teacher's `batch` settings size its files). */
  batchClient(role: LlmRole): BatchClient {
    const settings = role === 'teacher' ? this.opts.llm.teacher?.batch : undefined;
    return new BatchClient({ client: this.client(role), cache: this.cache, ledger: this.ledger, ...(settings ? { maxRequestsPerFile: settings.maxRequestsPerFile } : {}) });
  }

  client(role: LlmRole): LlmClient {
    let c = this.clients.get(role);
    if (!c) {
      c = new LlmClient({
        endpoint: this.endpointFor(role),
        env: this.opts.env,
        cache: this.cache,
        ledger: this.ledger,
        ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
      });
      this.clients.set(role, c);
    }
    return c;
  }
}
