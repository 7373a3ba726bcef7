// Entry for the r4ec-llm task queue: `npx tsx workers/llm.ts [--config FILE]` (same as `r4ec worker --queue llm`).
import { workerEntry } from './entry';

void workerEntry('llm');
