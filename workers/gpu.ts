// Entry for the r4ec-gpu task queue: `npx tsx workers/gpu.ts [--config FILE]` (same as `r4ec worker --queue gpu`).
import { workerEntry } from './entry';

void workerEntry('gpu');
