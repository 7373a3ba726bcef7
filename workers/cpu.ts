// Entry for the r4ec-cpu task queue: `npx tsx workers/cpu.ts [--config FILE]` (same as `r4ec worker --queue cpu`).
import { workerEntry } from './entry';

void workerEntry('cpu');
