//! Claude Code's settings files: where each layer lives, and reading one strictly.

use std::path::{Path, PathBuf};

use crate::env::{Env, git_root};
use crate::error::{Error, Result};
use crate::jsonfile::{ReadError, SettingsFile, load};

/// A settings file telemhq installs into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `$CLAUDE_CONFIG_DIR/settings.json`, else `~/.claude/settings.json`.
    Global,
    /// `<repo>/.claude/settings.json`, usually committed and shared.
    Repo,
    /// `<repo>/.claude/settings.local.json`, personal and not committed.
    Local,
}

impl Scope {
    pub fn flag(self) -> &'static str {
        match self {
            Scope::Global => "--global",
            Scope::Repo => "--repo",
            Scope::Local => "--local",
        }
    }

    pub fn settings_path(self, env: &Env) -> Result<PathBuf> {
        match self {
            Scope::Global => Ok(env.claude_dir()?.join("settings.json")),
            Scope::Repo | Scope::Local => {
                let root = git_root(&env.cwd).ok_or_else(|| {
                    Error::new(format!(
                        "{} is not inside a git repository, so there is no project settings file for {}; \
                         run this inside your project, or use --global",
                        env.cwd.display(),
                        self.flag()
                    ))
                })?;
                let name = if self == Scope::Repo {
                    "settings.json"
                } else {
                    "settings.local.json"
                };
                Ok(root.join(".claude").join(name))
            }
        }
    }
}

/// A settings layer Claude Code reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    User,
    Project,
    Local,
    Managed,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::User => "user",
            Layer::Project => "project",
            Layer::Local => "local",
            Layer::Managed => "managed",
        }
    }

    /// The install scope that writes this layer (managed: none of telemhq's).
    pub fn scope(self) -> Option<Scope> {
        match self {
            Layer::User => Some(Scope::Global),
            Layer::Project => Some(Scope::Repo),
            Layer::Local => Some(Scope::Local),
            Layer::Managed => None,
        }
    }
}

/// The layers Claude Code reads for a folder, lowest precedence first.
pub fn layers(env: &Env) -> Vec<(Layer, PathBuf)> {
    let mut out = Vec::new();
    if let Some(dir) = &env.claude_dir {
        out.push((Layer::User, dir.join("settings.json")));
    }
    if let Some(root) = git_root(&env.cwd) {
        out.push((Layer::Project, root.join(".claude/settings.json")));
        out.push((Layer::Local, root.join(".claude/settings.local.json")));
    }
    out.push((Layer::Managed, managed_settings_path()));
    out
}

pub fn managed_settings_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TELEMHQ_MANAGED_SETTINGS") {
        return PathBuf::from(p); // for tests: the real one is root-owned
    }
    if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/ClaudeCode/managed-settings.json")
    } else {
        PathBuf::from("/etc/claude-code/managed-settings.json")
    }
}

/// Reads a Claude Code settings file strictly, with errors that say where and what
/// Claude Code makes of the problem.
pub fn read(path: &Path) -> Result<SettingsFile> {
    load(path).map_err(|e| e.to_error(path, describe))
}

/// Whether Claude Code still applies a file with this problem (it reads it with Node.js,
/// which replaces a bad byte and has no small nesting limit); only broken JSON is skipped.
pub fn claude_code_reads_it(e: &ReadError) -> bool {
    matches!(e, ReadError::NotUtf8 { .. } | ReadError::TooDeep { .. })
}

/// What is wrong, and what Claude Code makes of it.
pub fn describe(e: &ReadError) -> String {
    match e {
        ReadError::NotUtf8 { .. } => {
            "a byte that is not UTF-8 text: Claude Code reads the file with that byte \
             replaced, so its settings apply; telemhq edits only clean UTF-8, so that \
             every byte stays as it was"
                .into()
        }
        ReadError::Syntax { problem, .. } => format!(
            "{problem}: Claude Code silently ignores a settings file that is not strict JSON, \
             so none of its settings apply"
        ),
        ReadError::TooDeep { .. } => {
            "nested more than 128 levels deep: Claude Code reads it, but telemhq does not \
             check or edit a file nested that deep"
                .into()
        }
        ReadError::Io(_) => e.problem(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_read_by_claude_code() {
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(200), "]".repeat(200));
        let err = crate::jsonfile::parse_strict(&deep).unwrap_err();
        assert!(claude_code_reads_it(&err));
        assert!(!describe(&err).contains("ignores"));
    }
}
