#!/usr/bin/env node
// The r4ec CLI. TypeScript sources run through tsx's loader (a runtime dependency).
require('tsx/cjs');
require('../cli/main.ts');
