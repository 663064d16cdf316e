//! Claude Code's settings files: where each layer lives, and reading one strictly.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::env::{Env, git_root};
use crate::error::{Error, Result};

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

/// The layers Claude Code reads for a folder, lowest precedence first.
pub fn layers(env: &Env) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    if let Some(dir) = &env.claude_dir {
        out.push(("user", dir.join("settings.json")));
    }
    if let Some(root) = git_root(&env.cwd) {
        out.push(("project", root.join(".claude/settings.json")));
        out.push(("local", root.join(".claude/settings.local.json")));
    }
    out.push(("managed", managed_settings_path()));
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

/// A settings file as read from disk.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    /// The text, or None when the file does not exist.
    pub text: Option<String>,
    pub value: Value,
}

/// Reads a settings file strictly, as Claude Code does, with errors that say where.
pub fn read(path: &Path) -> Result<SettingsFile> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SettingsFile {
                text: None,
                value: Value::Object(Default::default()),
            });
        }
        Err(e) => return Err(Error::io("read", path, &e)),
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, col) = line_col(&String::from_utf8_lossy(
            &e.as_bytes()[..e.utf8_error().valid_up_to()],
        ));
        Error::new(format!(
            "{}:{line}:{col}: not UTF-8 text{IGNORED}",
            path.display()
        ))
    })?;
    let value =
        parse_strict(&text).map_err(|e| Error::new(format!("{}:{e}{IGNORED}", path.display())))?;
    Ok(SettingsFile {
        text: Some(text),
        value,
    })
}

const IGNORED: &str = "\n  Claude Code silently ignores a settings file that is not strict JSON, so none of its settings apply; fix it and run again (your file was not changed)";

/// Parses strict JSON. The error reads `line:column: what is wrong`. Whitespace-only
/// text counts as an empty object (there is nothing in it to lose).
pub fn parse_strict(text: &str) -> std::result::Result<Value, String> {
    if text.starts_with('\u{feff}') {
        return Err(
            "1:1: starts with a byte-order mark (BOM), which strict JSON does not allow".into(),
        );
    }
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        let at = text
            .lines()
            .nth(line.saturating_sub(1))
            .and_then(|l| l.chars().nth(column.saturating_sub(1)));
        let explained = match (at, message.as_str()) {
            (Some('/'), _) => "comments are not allowed in JSON".to_string(),
            (_, m) if m.starts_with("trailing comma") => {
                "trailing comma: JSON allows no comma after the last item".into()
            }
            (_, m) if m.starts_with("EOF while parsing") => {
                format!("the file ends too early ({m}): is it cut short?")
            }
            (_, m) => m.to_string(),
        };
        format!("{line}:{column}: {explained}")
    })
}

fn line_col(prefix: &str) -> (usize, usize) {
    let line = prefix.matches('\n').count() + 1;
    let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_errors_say_line_and_column() {
        assert_eq!(
            parse_strict("{\n  // hi\n}").unwrap_err(),
            "2:3: comments are not allowed in JSON"
        );
        assert!(
            parse_strict("{\"a\": 1,\n}")
                .unwrap_err()
                .starts_with("2:1: trailing comma")
        );
        assert!(
            parse_strict("\u{feff}{}")
                .unwrap_err()
                .contains("byte-order mark")
        );
        assert!(
            parse_strict("{\"a\": ")
                .unwrap_err()
                .contains("ends too early")
        );
    }
}
