// What r4ec needs on a Temporal namespace it did not start itself (a self-hosted cluster, Temporal
// Cloud): the namespace, and the five Keyword search attributes every stage and entity workflow
// sets. The dev server r4ec starts gets them at start; anywhere else, `r4ec cluster setup` (and
// `r4ec worker` at start) adds them through the operator service, idempotently.
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { R4ecError } from '../core/errors';
import { resolveTemporal } from './connection';

const { IndexedValueType } = temporal.api.enums.v1;
const KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
/** gRPC status codes the operator service answers with. */
const GRPC = { NOT_FOUND: 5, PERMISSION_DENIED: 7, UNIMPLEMENTED: 12, UNAUTHENTICATED: 16 } as const;

export interface ClusterStatus {
  address: string;
  namespace: string;
  /** Registered with the right type (Keyword). */
  present: string[];
  missing: string[];
  /** Registered under our name with another type: r4ec cannot use them and will not change them. */
  wrongType: Array<{ name: string; type: string }>;
}

export interface ClusterSetupResult extends ClusterStatus {
  /** Added by this call (empty when everything was already there: a second setup is a no-op). */
  added: string[];
}

function grpcCode(err: unknown): number | undefined {
  return isGrpcServiceError(err) ? err.code : undefined;
}

function typeName(t: number): string {
  return (IndexedValueType[t] ?? String(t)).replace('INDEXED_VALUE_TYPE_', '');
}

/** The commands an operator with the permission runs by hand. */
export function manualSetupCommands(address: string, namespace: string, names: readonly string[]): string {
  const cli = names.map((n) => `temporal operator search-attribute create --address ${address} --namespace ${namespace} --name ${n} --type Keyword`);
  const cloud = `tcld namespace search-attributes add --namespace ${namespace} ${names.map((n) => `--search-attribute "${n}=Keyword"`).join(' ')}`;
  return `${cli.join('\n    ')}\n  or, on Temporal Cloud:\n    ${cloud}`;
}

function permissionError(what: string, status: ClusterStatus, err: unknown): R4ecError {
  return new R4ecError(`${what} on namespace "${status.namespace}" at ${status.address} was refused: ${(err as Error).message}`, 'temporal_permission_denied', {
    suggestion: `ask an operator of the namespace to add ${status.missing.length ? status.missing.join(', ') : 'the R4ec search attributes'} (Keyword), e.g.\n    ${manualSetupCommands(status.address, status.namespace, status.missing.length ? status.missing : SEARCH_ATTRIBUTES)}`,
    cause: err,
  });
}

/** Checks the namespace exists and which search attributes it has; changes nothing. */
export async function inspectCluster(connection: Connection, address: string, namespace: string): Promise<ClusterStatus> {
  const status: ClusterStatus = { address, namespace, present: [], missing: [...SEARCH_ATTRIBUTES], wrongType: [] };
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (err) {
    if (grpcCode(err) === GRPC.NOT_FOUND) {
      throw new R4ecError(`namespace "${namespace}" does not exist on ${address}`, 'temporal_namespace_missing', {
        suggestion: `create it (\`temporal operator namespace create --address ${address} --namespace ${namespace}\`; on Temporal Cloud, in the Cloud UI or with tcld), or set temporal.namespace to an existing one`,
        cause: err,
      });
    }
    if (grpcCode(err) === GRPC.PERMISSION_DENIED || grpcCode(err) === GRPC.UNAUTHENTICATED) throw permissionError('describing the namespace', status, err);
    throw err;
  }
  let custom: Record<string, number>;
  try {
    custom = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (err) {
    const code = grpcCode(err);
    if (code === GRPC.PERMISSION_DENIED || code === GRPC.UNAUTHENTICATED || code === GRPC.UNIMPLEMENTED) throw permissionError('listing search attributes', status, err);
    throw err;
  }
  status.missing = [];
  for (const name of SEARCH_ATTRIBUTES) {
    const t = custom[name];
    if (t === undefined) status.missing.push(name);
    else if (t === KEYWORD) status.present.push(name);
    else status.wrongType.push({ name, type: typeName(t) });
  }
  return status;
}

/**
 * Adds the missing search attributes and waits until the namespace lists them. Idempotent: when
 * all are present it sends nothing. A name registered with another type is an error to fix by
 * hand: r4ec never removes an operator's attribute.
 */
export async function setupCluster(connection: Connection, address: string, namespace: string, opts: { check?: boolean } = {}): Promise<ClusterSetupResult> {
  const status = await inspectCluster(connection, address, namespace);
  if (status.wrongType.length > 0) {
    throw new R4ecError(
      `namespace "${namespace}" at ${address} has ${status.wrongType.map((w) => `${w.name} as ${w.type}`).join(', ')}; r4ec needs Keyword`,
      'temporal_search_attribute_type',
      { suggestion: `remove ${status.wrongType.map((w) => w.name).join(', ')} (temporal operator search-attribute remove) and run \`r4ec cluster setup\` again` },
    );
  }
  if (opts.check || status.missing.length === 0) return { ...status, added: [] };
  const missing = [...status.missing];
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((n) => [n, KEYWORD])) });
  } catch (err) {
    const code = grpcCode(err);
    if (code === GRPC.PERMISSION_DENIED || code === GRPC.UNAUTHENTICATED || code === GRPC.UNIMPLEMENTED) throw permissionError('adding search attributes', status, err);
    throw err;
  }
  // Registration reaches the visibility store asynchronously on some clusters.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const after = await inspectCluster(connection, address, namespace);
    if (after.missing.length === 0) return { ...after, added: missing };
    if (Date.now() > deadline) {
      throw new R4ecError(`added ${missing.join(', ')} to namespace "${namespace}" at ${address}, but after 30 s it still lacks ${after.missing.join(', ')}`, 'temporal_search_attributes_pending', {
        suggestion: 'run `r4ec cluster setup` again in a minute',
      });
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function describeClusterResult(r: ClusterSetupResult, check = false): string {
  const head = `namespace "${r.namespace}" at ${r.address}`;
  if (r.added.length) return `${head}: added search attributes ${r.added.join(', ')} (Keyword); all ${SEARCH_ATTRIBUTES.length} present`;
  if (r.missing.length) return `${head}: missing search attributes ${r.missing.join(', ')}${check ? ' (--check: nothing changed)' : ''}`;
  return `${head}: all ${SEARCH_ATTRIBUTES.length} search attributes present (${r.present.join(', ')}); nothing to do`;
}

/** A client connection to the configured Temporal (address, TLS, API key from config and env). */
export async function operatorConnection(config: R4ecConfig, address: string, env: NodeJS.ProcessEnv): Promise<Connection> {
  try {
    const t = resolveTemporal(config, address, env);
    return await Connection.connect({ address: t.address, ...(t.tls ? { tls: t.tls } : {}), ...(t.apiKey ? { apiKey: t.apiKey } : {}) });
  } catch (err) {
    if (err instanceof R4ecError) throw err;
    throw new R4ecError(`cannot connect to Temporal at ${address}: ${(err as Error).message}`, 'temporal_unreachable', {
      suggestion: 'check temporal.address (and tls / apiKeyEnv for a secured cluster)',
      cause: err,
    });
  }
}

/**
 * Run by `r4ec worker` before its workers start: sets the namespace up where it may, and where it
 * may not (no operator permission), says what is missing and goes on, since workflows that set
 * the attributes will then fail visibly and everything else works.
 */
export async function setupClusterAtWorkerStart(config: R4ecConfig, address: string, env: NodeJS.ProcessEnv, write: (line: string) => void): Promise<void> {
  const connection = await operatorConnection(config, address, env);
  try {
    const r = await setupCluster(connection, address, config.temporal.namespace);
    write(`[r4ec] cluster: ${describeClusterResult(r)}\n`);
  } catch (err) {
    if (err instanceof R4ecError && (err.code === 'temporal_permission_denied' || err.code === 'temporal_search_attribute_type' || err.code === 'temporal_search_attributes_pending')) {
      write(`[r4ec] cluster: WARNING [${err.code}]: ${err.message}\n  ${err.suggestion ?? ''}\n`);
      return;
    }
    throw err;
  } finally {
    await connection.close();
  }
}
