// S3 client failures as StoreErrors a user can act on. A message names the endpoint, bucket and
// key, never a credential: SDK errors are summarised by name and status, not passed through whole.
import { StoreError } from './types';

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

export function s3Status(err: unknown): number | undefined {
  return (err as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

// XAdminUserNotFound: versitygw's answer (HTTP 404) to an unknown access key id.
const AUTH_NAMES = new Set(['XAdminUserNotFound', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'AuthorizationHeaderMalformed']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

function networkCode(err: unknown): string | undefined {
  for (let e = err as SdkErrorShape | undefined, depth = 0; e && depth < 4; e = e.cause as SdkErrorShape | undefined, depth++) {
    if (e.code && NETWORK_CODES.has(e.code)) return e.code;
    if (e.name === 'TimeoutError') return 'timeout';
  }
  return undefined;
}

export function s3Failure(err: unknown, ctx: { op: string; key?: string | undefined; description: string; bucket: string; endpoint: string }): StoreError {
  const e = (err ?? {}) as SdkErrorShape;
  const name = e.name && e.name !== 'Unknown' && e.name !== 'UnknownError' ? e.name : undefined;
  const status = s3Status(err);
  const what = `${ctx.op}${ctx.key !== undefined ? ` "${ctx.key}"` : ''}`;
  const reply = [name, status !== undefined ? `HTTP ${status}` : undefined].filter(Boolean).join(', ');
  if (status === 404 && name !== 'NoSuchBucket' && !(name && AUTH_NAMES.has(name))) {
    return new StoreError(`artifact "${ctx.key ?? ''}" not found in ${ctx.description}`, 'not_found', ctx.key);
  }
  if (name === 'NoSuchBucket') {
    return new StoreError(`${what}: bucket "${ctx.bucket}" does not exist at ${ctx.endpoint}; create it or correct store.bucket`, 'io', ctx.key);
  }
  if (e.name === 'CredentialsProviderError') {
    return new StoreError(
      `${what} on ${ctx.description}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an instance/container role`,
      'auth',
      ctx.key,
    );
  }
  if (status === 401 || status === 403 || (name && AUTH_NAMES.has(name))) {
    return new StoreError(
      `${what}: the S3 server at ${ctx.endpoint} refused the credentials for bucket "${ctx.bucket}" (${reply || 'access denied'}); ` +
        'check the AWS credentials this process sees (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or its role) and the bucket policy',
      'auth',
      ctx.key,
    );
  }
  const net = networkCode(err);
  if (net) {
    return new StoreError(`${what}: cannot reach the S3 server at ${ctx.endpoint} for bucket "${ctx.bucket}" (${net})`, 'unreachable', ctx.key);
  }
  const detail = e.message && e.message !== name ? `: ${e.message.split('\n')[0]}` : '';
  return new StoreError(`${what} failed on ${ctx.description} (${reply || 'no reply'})${detail}`, 'io', ctx.key);
}
