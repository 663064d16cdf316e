//! Factory's Droid: hook groups in Claude Code's shape, in `hooks.json` (the hooks object
//! is the whole file) or under `hooks` in `settings.json`, in `~/.factory` and in a
//! repository's `.factory`. Per event, `hooks.json`'s list replaces `settings.json`'s, so
//! telemhq's entries go where the user's hooks of those events already are (see
//! `placement`), and doctor says when one file's list hides another's.
//!
//! Droid records no tokens per turn: `<session>.settings.json`, beside the transcript,
//! holds the session's running total. The hook takes that total when it runs; the turn's
//! usage is the difference from the session's previous turn end, kept in telemhq's
//! folder (`droid/<session>.json`).
pub mod session;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Agent, Blocker, Scope, repo_root};
use crate::env::Env;
use crate::error::Result;
use crate::hookfile::{Format, HookSet};
use crate::jsonfile::Dialect;
use crate::ping::payload::{self, HookEvent};
use crate::ping::queue::UsageSource;
use crate::usage::Turn;

/// Droid puts `CLAUDE_PROJECT_DIR` into its hooks' environment, so the command says
/// which agent runs it. No PATH needed, no personal path, never fails the turn.
pub const HOOK_COMMAND: &str = concat!(crate::hook_link!(), " emit --agent droid || true");

pub static HOOKS: HookSet = HookSet {
    command: HOOK_COMMAND,
    own_commands: &[HOOK_COMMAND],
    turn_template: include_str!("../../../templates/droid-turn-hooks.json"),
    tool_template: include_str!("../../../templates/droid-tool-activity-hooks.json"),
};

/// Droid's settings files accept comments? Its own writes are plain JSON; it reads them
/// with a JSON-with-comments reader like Claude Code's successors: telemhq accepts and
/// keeps comments, and refuses anything looser.
const DIALECT: Dialect = Dialect::Comments;

pub struct FactoryDroid;

/// Which of a scope's two files holds (or is to hold) telemhq's hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    HooksJson,
    Settings,
}

/// The events of a file's hooks: `hooks.json` is the hooks object, `settings.json` has
/// it under `hooks`.
fn events_in(doc: Option<&Value>, file: File) -> Vec<String> {
    let hooks = match file {
        File::HooksJson => doc,
        File::Settings => doc.and_then(|d| d.get("hooks")),
    };
    hooks
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.as_array().is_some_and(|a| !a.is_empty()))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn has_telemhq(doc: Option<&Value>, file: File) -> bool {
    let text = doc.map(Value::to_string).unwrap_or_default();
    let format = format_of(file);
    !format.installed_events(&text).is_empty()
}

/// Where telemhq's hooks go in a scope, from what its two files hold: where they already
/// are; else where the user's hooks of the turn's end (then of tool activity) are, in
/// `hooks.json` if it has that event (its list wins) or else `settings.json` if it has it
/// (a `hooks.json` list of that event would hide the user's); else `hooks.json`.
pub fn placement(hooks_json: Option<&Value>, settings: Option<&Value>) -> File {
    if has_telemhq(hooks_json, File::HooksJson) {
        return File::HooksJson;
    }
    if has_telemhq(settings, File::Settings) {
        return File::Settings;
    }
    let (in_hooks, in_settings) = (
        events_in(hooks_json, File::HooksJson),
        events_in(settings, File::Settings),
    );
    for event in HOOKS.turn_events().iter().chain(HOOKS.tool_events().iter()) {
        if in_hooks.contains(event) {
            return File::HooksJson;
        }
        if in_settings.contains(event) {
            return File::Settings;
        }
    }
    File::HooksJson
}

fn format_of(file: File) -> Format {
    match file {
        File::HooksJson => Format::BareGroups {
            set: &HOOKS,
            dialect: DIALECT,
        },
        File::Settings => Format::Groups {
            set: &HOOKS,
            dialect: DIALECT,
        },
    }
}

impl FactoryDroid {
    /// The folder of a scope's files: `~/.factory`, or the repository's `.factory`.
    fn folder(&self, env: &Env, scope: Scope) -> Option<Result<PathBuf>> {
        match scope {
            Scope::Global => Some(self.user_dir(env)),
            Scope::Repo => Some(repo_root(env, scope).map(|r| r.join(".factory"))),
            Scope::Local => None,
        }
    }
}

impl Agent for FactoryDroid {
    fn id(&self) -> &'static str {
        "droid"
    }

    fn display_name(&self) -> &'static str {
        "Factory Droid"
    }

    fn provider(&self) -> &'static str {
        "factory"
    }

    fn tool(&self) -> &'static str {
        "droid"
    }

    fn user_dir(&self, env: &Env) -> Result<PathBuf> {
        Ok(super::home(env)?.join(".factory"))
    }

    fn global_file(&self, env: &Env) -> Result<PathBuf> {
        self.hook_file(env, Scope::Global)
            .expect("Droid has user settings")
    }

    fn global_file_help(&self) -> &'static str {
        "~/.factory/hooks.json, or ~/.factory/settings.json where your own Stop hooks are"
    }

    fn repo_file(&self, scope: Scope) -> Option<&'static str> {
        (scope == Scope::Repo).then_some(".factory/hooks.json")
    }

    /// The scope's `hooks.json` or `settings.json`, by `placement`.
    fn hook_file(&self, env: &Env, scope: Scope) -> Option<Result<PathBuf>> {
        let folder = match self.folder(env, scope)? {
            Ok(f) => f,
            Err(e) => return Some(Err(e)),
        };
        let read = |name: &str| crate::jsonfile::value_of(&folder.join(name), DIALECT);
        let file = placement(read("hooks.json").as_ref(), read("settings.json").as_ref());
        Some(Ok(folder.join(match file {
            File::HooksJson => "hooks.json",
            File::Settings => "settings.json",
        })))
    }

    fn format(&self) -> Format {
        format_of(File::HooksJson)
    }

    fn format_for(&self, file: &Path) -> Format {
        format_of(if file.file_name().is_some_and(|n| n == "settings.json") {
            File::Settings
        } else {
            File::HooksJson
        })
    }

    fn turn_end_events(&self) -> &'static [&'static str] {
        &["Stop"]
    }

    fn failure(&self, event: &HookEvent) -> Option<String> {
        payload::other_failure(event)
    }

    fn running_total(&self, event: &HookEvent) -> Option<[u64; 5]> {
        session::running_total(Path::new(event.transcript_path.as_deref()?))
    }

    fn read_usage(&self, source: &UsageSource) -> Option<Turn> {
        let usage = session::turn_usage(source)?;
        Some(usage.read(source.event_ms))
    }

    /// `hooksDisabled` in the settings; telemhq's entries in `settings.json` that the
    /// same event's list in `hooks.json` hides.
    fn blockers(&self, env: &Env, scope: Scope, file: &Path) -> Vec<Blocker> {
        let mut out = Vec::new();
        let Some(Ok(folder)) = self.folder(env, scope) else {
            return out;
        };
        let settings_path = folder.join("settings.json");
        let hooks_path = folder.join("hooks.json");
        let settings = crate::jsonfile::value_of(&settings_path, DIALECT);
        let hooks = crate::jsonfile::value_of(&hooks_path, DIALECT);
        for doc in [
            &settings,
            &crate::jsonfile::value_of(
                &self
                    .user_dir(env)
                    .map(|d| d.join("settings.json"))
                    .unwrap_or_default(),
                DIALECT,
            ),
        ] {
            if doc.as_ref().and_then(|d| d.get("hooksDisabled")) == Some(&Value::Bool(true)) {
                out.push(Blocker {
                    why: "Droid's hooks are switched off (hooksDisabled is true in its settings)"
                        .into(),
                    fix: "remove \"hooksDisabled\": true from Droid's settings.json".into(),
                });
                break;
            }
        }
        if file.file_name().is_some_and(|n| n == "settings.json") {
            let ours = format_of(File::Settings)
                .installed_events(&settings.map(|s| s.to_string()).unwrap_or_default());
            let hidden: Vec<String> = events_in(hooks.as_ref(), File::HooksJson)
                .into_iter()
                .filter(|e| ours.contains(e))
                .collect();
            if !hidden.is_empty() {
                out.push(Blocker {
                    why: format!(
                        "{} lists {} itself, which hides the same events' hooks in {} (telemhq's among them)",
                        env.show(&hooks_path),
                        hidden.join(", "),
                        env.show(&settings_path)
                    ),
                    fix: format!(
                        "move your {} hooks from {} into {} (or the other way), then run telemhq install again",
                        hidden.join(", "),
                        env.show(&hooks_path),
                        env.show(&settings_path)
                    ),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn telemhqs_hooks_go_where_the_users_hooks_of_the_same_events_are() {
        let user_stop = json!({"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]});
        let settings_with_stop = json!({"model": "x", "hooks": user_stop});
        // Nothing anywhere: hooks.json.
        assert_eq!(placement(None, None), File::HooksJson);
        // The user's Stop hooks are in settings.json: a Stop list in hooks.json would hide
        // them, so telemhq's go beside them.
        assert_eq!(placement(None, Some(&settings_with_stop)), File::Settings);
        // In hooks.json: there (its list is the one Droid runs).
        assert_eq!(
            placement(Some(&user_stop), Some(&settings_with_stop)),
            File::HooksJson
        );
        // Other events only: nothing to hide, hooks.json.
        let other = json!({"hooks": {"SessionStart": [{"hooks": []}]}});
        assert_eq!(placement(None, Some(&other)), File::HooksJson);
        // Where telemhq's already are, they stay.
        let ours = json!({"Stop": [HOOKS.template_group("Stop").unwrap()]});
        assert_eq!(
            placement(Some(&ours), Some(&settings_with_stop)),
            File::HooksJson
        );
    }

    #[test]
    fn groups_carry_the_droid_command_and_match_every_tool() {
        assert_eq!(HOOKS.turn_events(), ["Stop"]);
        assert_eq!(HOOKS.tool_events(), ["PostToolUse"]);
        let tool = HOOKS.template_group("PostToolUse").unwrap();
        assert_eq!(
            tool["matcher"], "*",
            "Droid's shell tool is Execute: Bash would not match"
        );
        assert_eq!(tool["hooks"][0]["command"], HOOK_COMMAND);
        assert_eq!(tool["hooks"][0]["timeout"], 5, "seconds");
    }
}
