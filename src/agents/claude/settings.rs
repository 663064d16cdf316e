//! Claude Code's settings files: where each layer lives, and reading one strictly.

use std::path::PathBuf;

use crate::agents::Scope;
use crate::env::{Env, git_root};
use crate::jsonfile::ReadError;

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

/// What stops Claude Code running any hook of the user's or a project's: `disableAllHooks`
/// in the highest layer that sets it (managed > local > project > user), and managed
/// settings with `allowManagedHooksOnly`. Layers that do not read are skipped (doctor
/// reports them on their own).
pub fn blockers(env: &Env) -> Vec<crate::agents::Blocker> {
    use crate::agents::Blocker;
    let read: Vec<(Layer, PathBuf, serde_json::Value)> = layers(env)
        .into_iter()
        .filter_map(|(layer, path)| {
            let bytes = crate::fsutil::read_regular(&path).ok()?;
            // Claude Code reads a file with a bad byte, replacing it.
            let text = String::from_utf8_lossy(&bytes);
            let value = crate::jsonfile::parse_strict(&text).ok()?;
            Some((layer, path, value))
        })
        .collect();
    let mut out = Vec::new();
    let decided = [Layer::Managed, Layer::Local, Layer::Project, Layer::User]
        .iter()
        .filter_map(|name| read.iter().find(|(l, _, _)| l == name))
        .find_map(|(l, p, v)| v.get("disableAllHooks")?.as_bool().map(|b| (l, p, b)));
    if let Some((layer, path, true)) = decided {
        out.push(Blocker {
            why: format!(
                "\"disableAllHooks\": true in {} settings ({}): Claude Code runs no hooks",
                layer.name(),
                env.show(path)
            ),
            fix: format!(
                "remove \"disableAllHooks\" from {}{}",
                crate::term::path(path),
                if *layer == Layer::Managed {
                    " (ask your administrator)"
                } else {
                    ""
                }
            ),
        });
    }
    let managed_only = read
        .iter()
        .find(|(l, _, _)| *l == Layer::Managed)
        .and_then(|(_, _, v)| v.get("allowManagedHooksOnly")?.as_bool())
        .unwrap_or(false);
    if managed_only {
        out.push(Blocker {
            why: "\"allowManagedHooksOnly\": true in managed settings: user and project hooks do not run".into(),
            fix: "ask your administrator to add telemhq's hooks to the managed settings, or to lift allowManagedHooksOnly".into(),
        });
    }
    out
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
