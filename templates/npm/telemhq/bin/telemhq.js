#!/usr/bin/env node
// Runs telemhq's native binary from the package for this platform (an optional
// dependency npm installs only where its `os` and `cpu` match). Hooks never run this
// launcher: `telemhq install` points them at the native binary itself.
"use strict";
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const pkg = `@telemhq/${process.platform}-${process.arch}`;
let binary;
try {
  binary = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), "bin", "telemhq");
} catch {
  console.error(
    `telemhq: no native binary for ${process.platform}-${process.arch}: the package ${pkg} is not installed ` +
      "(npm skips it on other platforms, or with --no-optional). Reinstall telemhq, or build it from source."
  );
  process.exit(1);
}
const result = spawnSync(binary, process.argv.slice(2), { stdio: "inherit" });
if (result.error) {
  console.error(`telemhq: cannot run ${binary}: ${result.error.message}`);
  process.exit(1);
}
if (result.signal) {
  process.kill(process.pid, result.signal);
}
process.exit(result.status ?? 1);
