//! The integration tests: one binary with a module per area (as cargo's own test suite
//! does), so the shared support code is compiled and linked once.

#[macro_use]
mod support;

mod attack2;
mod attack3;
mod ccusage;
mod codex;
mod conformance;
mod cost;
mod cursor;
mod doctor;
mod droid_qwen;
mod e2e_all_agents;
mod e2e_claude_code;
mod e2e_codex;
mod e2e_copilot;
mod e2e_droid;
mod e2e_gemini;
mod e2e_qwen;
mod emit;
mod gemini_copilot;
mod history;
mod hostile;
mod install;
mod install_property;
mod npm;
mod otlp;
mod report;
mod run;
mod seam;
mod statusline;
mod store;
mod trackers;
mod usage;
mod ux;
