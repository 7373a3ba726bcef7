import { resolve } from 'node:path';
import { LocalStore } from './local';
import { ArtifactStore, StoreError } from './types';

export * from './types';
export * from './stage-output';
export { LocalStore } from './local';

export type StoreConfig =
  | { kind: 'local'; path?: string | undefined }
  | { kind: 's3'; bucket: string; prefix: string; endpoint?: string | undefined; region: string };

/** The configured store; a local store defaults to `<stateDir>/store`. */
export function openStore(config: StoreConfig, stateDir: string): ArtifactStore {
  if (config.kind === 'local') return new LocalStore(resolve(config.path ?? resolve(stateDir, 'store')));
  throw new StoreError(
    `store kind "s3" is declared by the interface but no S3 client is bundled in this build; ` +
      `use a local (or shared network) directory: store: { kind: local, path: /shared/r4ec }`,
    'io',
  );
}
