//! Where each agent keeps the hooks telemhq installs, and which agents this machine has.
//! Claude Code, Gemini CLI and Copilot CLI hold them in JSON files that telemhq edits
//! the same way (`JsonHooks`); Codex holds them in TOML (`cmd::codex`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::agent::Agent;
use crate::claude::settings::{self, Scope};
use crate::env::{Env, git_root};
use crate::error::{Error, Result};
use crate::hook_groups::{Created, Plan, ShapeError, ToolActivity};
use crate::jsonfile::{self, SettingsFile};

/// An agent's JSON hook file for one scope, and the pure plans that edit it.
pub struct JsonHooks {
    pub agent: Agent,
    pub path: PathBuf,
    /// Reads the file strictly, with errors that say where (and what the agent makes of it).
    pub read: fn(&Path) -> Result<SettingsFile>,
    pub plan_install: fn(&Value, ToolActivity, &Created) -> std::result::Result<Plan, ShapeError>,
    pub plan_uninstall: fn(&Value, &Created) -> std::result::Result<Plan, ShapeError>,
    pub installed_events: fn(&Value) -> Vec<String>,
    /// Whether a document holds nothing of anyone's (uninstall then removes a file that
    /// install created).
    pub holds_nothing: fn(&Value) -> bool,
}

impl JsonHooks {
    /// The error for a document of a shape the agent does not accept.
    pub fn shape_error(&self, e: ShapeError) -> Error {
        Error::new(format!(
            "{}: a shape {} does not accept at {e}; nothing was changed",
            self.path.display(),
            self.agent.display_name()
        ))
    }
}

fn empty_object(doc: &Value) -> bool {
    doc.as_object().is_some_and(|o| o.is_empty())
}

/// The JSON hook file of an agent for a scope. Codex has none (its config is TOML).
pub fn json_hooks(agent: Agent, env: &Env, scope: Scope) -> Result<JsonHooks> {
    Ok(match agent {
        Agent::Codex => {
            return Err(Error::new(
                "Codex's hooks are in its config.toml, not in a JSON file",
            ));
        }
        Agent::Claude => JsonHooks {
            agent,
            path: scope.settings_path(env)?,
            read: settings::read,
            plan_install: crate::claude::hooks::plan_install,
            plan_uninstall: crate::claude::hooks::plan_uninstall,
            installed_events: crate::claude::hooks::installed_events,
            holds_nothing: empty_object,
        },
        Agent::Gemini => JsonHooks {
            agent,
            path: match scope {
                Scope::Global => gemini_dir(env)?.join("settings.json"),
                Scope::Repo => repo_root(env)?.join(".gemini/settings.json"),
                Scope::Local => return Err(no_local(agent)),
            },
            read: jsonfile::read,
            plan_install: crate::gemini::hooks::plan_install,
            plan_uninstall: crate::gemini::hooks::plan_uninstall,
            installed_events: crate::gemini::hooks::installed_events,
            holds_nothing: empty_object,
        },
        Agent::Copilot => JsonHooks {
            agent,
            path: match scope {
                Scope::Global => copilot_dir(env)?.join("hooks/telemhq.json"),
                Scope::Repo => repo_root(env)?.join(".github/hooks/telemhq.json"),
                Scope::Local => return Err(no_local(agent)),
            },
            read: jsonfile::read,
            plan_install: crate::copilot::hooks::plan_install,
            plan_uninstall: crate::copilot::hooks::plan_uninstall,
            installed_events: crate::copilot::hooks::installed_events,
            holds_nothing: crate::copilot::hooks::holds_nothing,
        },
    })
}

fn no_local(agent: Agent) -> Error {
    Error::usage(format!(
        "{} has no personal per-repository settings: use --global or --repo with --agent {}",
        agent.display_name(),
        agent.name()
    ))
}

fn repo_root(env: &Env) -> Result<PathBuf> {
    git_root(&env.cwd).ok_or_else(|| {
        Error::new(format!(
            "{} is not inside a git repository, so there are no project settings for --repo; \
             run this inside your project, or use --global",
            env.cwd.display()
        ))
    })
}

fn home(env: &Env) -> Result<&Path> {
    env.home
        .as_deref()
        .ok_or_else(|| Error::new("cannot find your home folder: set HOME"))
}

/// Gemini CLI's user folder, `~/.gemini`.
pub fn gemini_dir(env: &Env) -> Result<PathBuf> {
    Ok(home(env)?.join(".gemini"))
}

/// Copilot CLI's folder: `$COPILOT_HOME`, else `~/.copilot`.
pub fn copilot_dir(env: &Env) -> Result<PathBuf> {
    match std::env::var_os("COPILOT_HOME").filter(|d| !d.is_empty()) {
        Some(dir) if Path::new(&dir).is_relative() => Err(Error::new(format!(
            "COPILOT_HOME is a relative path ({}): set it to an absolute path",
            Path::new(&dir).display()
        ))),
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(home(env)?.join(".copilot")),
    }
}

/// The folder an agent keeps its user settings in.
fn user_dir(agent: Agent, env: &Env) -> Option<PathBuf> {
    match agent {
        Agent::Claude => env.claude_dir.clone(),
        Agent::Codex => super::codex::config_path(env, Scope::Global)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf)),
        Agent::Gemini => gemini_dir(env).ok(),
        Agent::Copilot => copilot_dir(env).ok(),
    }
}

/// The agents on this machine: those whose user folder exists or whose command is on
/// PATH, each with what showed it.
pub fn found(env: &Env) -> Vec<(Agent, String)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    Agent::ALL
        .into_iter()
        .filter_map(|agent| {
            if let Some(dir) = user_dir(agent, env).filter(|d| d.is_dir()) {
                return Some((agent, env.show(&dir)));
            }
            let command = agent.command();
            std::env::split_paths(&path)
                .map(|d| d.join(command))
                .find(|p| p.is_file())
                .map(|p| (agent, p.display().to_string()))
        })
        .collect()
}
