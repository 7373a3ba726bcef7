import { resolve } from 'node:path';
import { LocalStore } from './local';
import type { ArtifactStore } from './types';

export * from './types';
export * from './stage-output';
export { LocalStore } from './local';
export type { S3StoreOptions } from './s3';

export type StoreConfig =
  | { kind: 'local'; path?: string | undefined }
  | {
      kind: 's3';
      bucket: string;
      prefix: string;
      endpoint?: string | undefined;
      region: string;
      forcePathStyle?: boolean | undefined;
      partSizeMiB?: number | undefined;
      uploadConcurrency?: number | undefined;
    };

/**
 * The configured store; a local store defaults to `<stateDir>/store`. An S3 store caches local
 * copies under `<stateDir>/cache/store` by content hash, so the state dir stays a cache.
 */
export function openStore(config: StoreConfig, stateDir: string): ArtifactStore {
  if (config.kind === 'local') return new LocalStore(resolve(config.path ?? resolve(stateDir, 'store')));
  // Loaded on demand: the AWS SDK adds ~0.5 s to the start of every process that would not use it.
  const { S3Store } = require('./s3') as typeof import('./s3');
  return new S3Store({
    bucket: config.bucket,
    prefix: config.prefix,
    ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
    region: config.region,
    ...(config.forcePathStyle !== undefined ? { forcePathStyle: config.forcePathStyle } : {}),
    ...(config.partSizeMiB !== undefined ? { partSizeMiB: config.partSizeMiB } : {}),
    ...(config.uploadConcurrency !== undefined ? { concurrency: config.uploadConcurrency } : {}),
    cacheDir: resolve(stateDir, 'cache', 'store'),
  });
}
