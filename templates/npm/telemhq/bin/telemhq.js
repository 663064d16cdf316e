#!/usr/bin/env node
// Runs telemhq's native binary from the package for this platform (an optional
// dependency npm installs only where its `os` and `cpu` match). Hooks never run this
// launcher: `telemhq install` points them at the native binary itself.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const plat = `${process.platform}-${process.arch}`;
const pkg = `@telemhq/${plat}`;
const root = path.join(__dirname, "..");
const version = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version;

// Only the platform package installed with this launcher: nested in it, or beside it in
// the same node_modules (npm, pnpm and bun hoist it there), of the same version. One in
// some parent folder's node_modules is another install's, and is never run.
function ownBinary() {
  for (const dir of [path.join(root, "node_modules", pkg), path.join(path.dirname(root), pkg)]) {
    try {
      const meta = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
      const binary = path.join(dir, "bin", "telemhq");
      if (meta.name === pkg && meta.version === version && fs.statSync(binary).isFile()) {
        return binary;
      }
    } catch {
      // not there: the next place
    }
  }
  return null;
}

const binary = ownBinary();
if (!binary) {
  console.error(
    `telemhq: no native binary for ${plat}: the package ${pkg}@${version} is not installed with this ` +
      "telemhq (npm skips it on other platforms, or with --no-optional). Reinstall telemhq, or build it from source."
  );
  process.exit(1);
}

const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });
// A signal to the launcher (a cancelled CI step, `kill`, a closed terminal) goes on to
// telemhq, which passes it to the job it runs: nothing is left running as an orphan.
const forwarded = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
for (const signal of forwarded) {
  process.on(signal, () => {
    try {
      child.kill(signal);
    } catch {
      // it has ended already
    }
  });
}
child.on("error", (error) => {
  console.error(`telemhq: cannot run ${binary}: ${error.message}`);
  process.exit(1);
});
// Exit as telemhq did: with its status, or by the signal that ended it.
child.on("exit", (code, signal) => {
  if (signal) {
    for (const s of forwarded) {
      process.removeAllListeners(s);
    }
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
