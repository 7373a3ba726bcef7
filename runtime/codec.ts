// Optional payload encryption: AES-256-GCM over every payload, so user histories and LLM answers are
// not readable in the server's database. The Web UI / CLI decode through `r4ec codec-server`.
//
// Each payload names the key it was written with by a key id (a truncated SHA-256 of the key: it
// identifies the key without revealing anything usable about it), so a payload written with another
// key is recognised as such instead of failing as "unable to authenticate data" on every retry.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { R4ecError } from '../core/errors';

const ENCODING = 'binary/encrypted';
const KEY_ID = 'r4ec-aes256gcm';
const KEY_FINGERPRINT = 'r4ec-key-id';

/** A payload this process cannot decode with its key (or without one). Never retryable. */
export class CodecKeyError extends R4ecError {
  constructor(message: string, code: 'codec_key_mismatch' | 'codec_disabled' | 'codec_payload_corrupt', suggestion: string) {
    super(message, code, { suggestion });
    this.name = 'CodecKeyError';
  }
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update('r4ec-codec-key-id:').update(key).digest('hex').slice(0, 16);
}

export interface CodecOptions {
  /** The env var the key came from (named in messages). */
  keyEnv?: string;
  /** Called on every payload that cannot be decoded (a worker stops on it). */
  onKeyError?: (err: CodecKeyError) => void;
}

const text = (v: Uint8Array | null | undefined) => (v ? Buffer.from(v).toString() : undefined);

export class AesGcmCodec implements PayloadCodec {
  private readonly id: string;
  private readonly keyEnv: string;
  constructor(
    private readonly key: Buffer,
    private readonly opts: CodecOptions = {},
  ) {
    if (key.length !== 32) throw new Error('AES-256-GCM needs a 32-byte key');
    this.id = keyId(key);
    this.keyEnv = opts.keyEnv ?? 'R4EC_CODEC_KEY';
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
          [KEY_FINGERPRINT]: Buffer.from(this.id),
        },
        data: Buffer.concat([iv, cipher.getAuthTag(), body]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (text(p.metadata?.[METADATA_ENCODING_KEY]) !== ENCODING || !p.data) return p;
      const writtenWith = text(p.metadata?.[KEY_FINGERPRINT]);
      if (writtenWith !== undefined && writtenWith !== this.id) throw this.fail(this.mismatch(`they were written with key id ${writtenWith}`));
      const data = Buffer.from(p.data);
      try {
        const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(0, 12));
        decipher.setAuthTag(data.subarray(12, 28));
        const plain = Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]);
        return temporal.api.common.v1.Payload.decode(plain);
      } catch (err) {
        const why = (err as Error).message;
        if (writtenWith === this.id) {
          throw this.fail(
            new CodecKeyError(`a payload written with this key (id ${this.id}) does not decrypt: the stored data is damaged (${why})`, 'codec_payload_corrupt', 'the workflow history in the server database is damaged; start the run again under a new --run-id'),
          );
        }
        throw this.fail(this.mismatch(`AES-GCM: ${why}`));
      }
    });
  }

  private mismatch(detail: string): CodecKeyError {
    return new CodecKeyError(
      `the run's payloads cannot be decrypted with $${this.keyEnv} (key id ${this.id}): it is not the key they were written with (${detail})`,
      'codec_key_mismatch',
      `set ${this.keyEnv} to the key the run was started with (codec.keyEnv names the variable); payloads written with one key are readable only with it. To start over instead, use a new --run-id or a new state dir`,
    );
  }

  private fail(err: CodecKeyError): CodecKeyError {
    this.opts.onKeyError?.(err);
    return err;
  }
}

/** With encryption off: plaintext passes; an encrypted payload is named as such instead of "unknown encoding". */
export class NoKeyCodec implements PayloadCodec {
  constructor(private readonly opts: CodecOptions = {}) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    for (const p of payloads) {
      if (text(p.metadata?.[METADATA_ENCODING_KEY]) === ENCODING) {
        const err = new CodecKeyError(
          `the run's payloads are encrypted${text(p.metadata?.[KEY_FINGERPRINT]) ? ` (key id ${text(p.metadata?.[KEY_FINGERPRINT])})` : ''}, but payload encryption is off here (codec.enabled: false)`,
          'codec_disabled',
          'set codec.enabled: true and export the key the run was started with (codec.keyEnv, default R4EC_CODEC_KEY)',
        );
        this.opts.onKeyError?.(err);
        throw err;
      }
    }
    return payloads;
  }
}

/** Reads the key from the env var named in config; the key itself never appears in config or payloads. */
export function codecFromEnv(codec: { enabled: boolean; keyEnv: string }, env: NodeJS.ProcessEnv, opts: Omit<CodecOptions, 'keyEnv'> = {}): AesGcmCodec | undefined {
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
  return new AesGcmCodec(key, { ...opts, keyEnv: codec.keyEnv });
}
