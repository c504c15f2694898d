#!/usr/bin/env node
// countersign-cosign, installed as `cosign` on hosts that shell out to `cosign verify`: the compiled
// shim (npm run build writes dist/). From a source checkout: node src/shim/main.ts.
import '../dist/shim/main.js';
