#!/usr/bin/env node
// Committed shim so npm can link the bin at install time, before `npm run build` creates dist/.
import "../dist/conformance/cli.js";
