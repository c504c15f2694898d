#!/usr/bin/env node
// Entry point of the installed package: the compiled CLI (npm run build writes dist/).
import '../dist/cli/main.js';
