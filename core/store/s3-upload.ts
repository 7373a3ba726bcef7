// Uploading a file to S3 with bounded memory: one PUT when it fits in a part, else a multipart
// upload, which S3 makes visible only at CompleteMultipartUpload (never a half object under the key).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { sha256 } from '../util/hash';

const MiB = 1024 * 1024;
/** S3's limits: parts of at least 5 MiB (except the last), at most 10,000 of them. */
export const MIN_PART = 5 * MiB;
const MAX_PARTS = 10_000;

export interface UploadFileInput {
  bucket: string;
  /** The full object key (store prefix included). */
  key: string;
  path: string;
  partSize: number;
  /** Parts in flight; memory held is about partSize × concurrency (twice that with the SDK's copies). */
  concurrency: number;
  /** User-metadata name under which the sha256 of the content is stored. */
  hashMeta: string;
}

export async function uploadFile(client: S3Client, input: UploadFileInput): Promise<void> {
  const { bucket, key } = input;
  const size = (await stat(input.path)).size;
  const fh = await open(input.path, 'r');
  try {
    if (size <= input.partSize) {
      const body = await readRange(fh, 0, size);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: size, Metadata: { [input.hashMeta]: sha256(body) } }));
      return;
    }
    // The hash goes in the object's metadata, which is fixed when the upload starts: one read pass first.
    const hash = createHash('sha256');
    await pipeline(createReadStream(input.path), hash);
    const partSize = Math.max(input.partSize, Math.ceil(size / MAX_PARTS / MiB) * MiB);
    const count = Math.ceil(size / partSize);
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: { [input.hashMeta]: hash.digest('hex') } }));
    try {
      const etags = new Array<string>(count);
      let next = 0;
      let failed = false;
      const uploader = async (): Promise<void> => {
        while (!failed && next < count) {
          const i = next++;
          const start = i * partSize;
          const body = await readRange(fh, start, Math.min(partSize, size - start));
          try {
            const r = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body, ContentLength: body.byteLength }));
            etags[i] = r.ETag ?? '';
          } catch (err) {
            failed = true;
            throw err;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(input.concurrency, count) }, uploader));
      await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
    } catch (err) {
      // Parts of an aborted upload are never visible; abort frees their space now (a killed
      // process leaves them to the bucket's AbortIncompleteMultipartUpload lifecycle rule).
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
      throw err;
    }
  } finally {
    await fh.close();
  }
}

async function readRange(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`file shrank while being uploaded (expected ${length} bytes at offset ${position})`);
    done += bytesRead;
  }
  return buf;
}
