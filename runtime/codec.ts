// Optional payload encryption: AES-256-GCM over every payload, so user histories and LLM answers are
// not readable in the server's database. The Web UI / CLI decode through `r4ec codec-server`.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { R4ecError } from '../core/errors';

const ENCODING = 'binary/encrypted';
const KEY_ID = 'r4ec-aes256gcm';

export class AesGcmCodec implements PayloadCodec {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('AES-256-GCM needs a 32-byte key');
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', this.key, iv);
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCODING),
          'encryption-key-id': Buffer.from(KEY_ID),
        },
        data: Buffer.concat([iv, cipher.getAuthTag(), body]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const enc = p.metadata?.[METADATA_ENCODING_KEY];
      if (!enc || Buffer.from(enc).toString() !== ENCODING || !p.data) return p;
      const data = Buffer.from(p.data);
      const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(12, 28));
      const plain = Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/** Reads the key from the env var named in config; the key itself never appears in config or payloads. */
export function codecFromEnv(codec: { enabled: boolean; keyEnv: string }, env: NodeJS.ProcessEnv): AesGcmCodec | undefined {
  if (!codec.enabled) return undefined;
  const raw = env[codec.keyEnv];
  if (!raw) {
    throw new R4ecError(`payload encryption is enabled but $${codec.keyEnv} is not set`, 'codec_key_missing', {
      suggestion: `export ${codec.keyEnv}=$(node -e "console.log(require('crypto').randomBytes(32).toString('base64'))")`,
    });
  }
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32) {
    throw new R4ecError(`$${codec.keyEnv} must be 32 bytes in base64 (got ${key.length} bytes)`, 'codec_key_invalid', {
      suggestion: 'generate one with: node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'base64\'))"',
    });
  }
  return new AesGcmCodec(key);
}
