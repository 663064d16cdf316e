//! Where things are: HOME, CLAUDE_CONFIG_DIR, the working folder and the ping URL are
//! read in main and passed down, so that tests can point them anywhere. (Tuning knobs
//! such as TELEMHQ_RETRY_BASE_MS are read where they are used.)

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Env {
    pub home: Option<PathBuf>,
    /// `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
    pub claude_dir: Option<PathBuf>,
    pub cwd: PathBuf,
    pub ping_url: Option<String>,
    pub debug: bool,
    /// `TELEMHQ_RUN_ID`: set by `telemhq run` for the command it runs.
    pub run_id: Option<String>,
    /// Running in CI (the conventional `CI` variable or a known provider's own).
    pub ci: bool,
}

impl Env {
    pub fn from_process() -> Env {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(dirs::home_dir);
        let claude_dir = std::env::var_os("CLAUDE_CONFIG_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".claude")));
        Env {
            home,
            claude_dir,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            ping_url: std::env::var("TELEMHQ_PING_URL")
                .ok()
                .filter(|u| !u.trim().is_empty()),
            debug: std::env::var("TELEMHQ_HOOK_DEBUG").is_ok_and(|v| v == "1"),
            run_id: std::env::var("TELEMHQ_RUN_ID")
                .ok()
                .filter(|v| !v.is_empty()),
            ci: in_ci(|name| std::env::var(name).ok()),
        }
    }

    pub fn claude_dir(&self) -> Result<&Path> {
        let dir = self.claude_dir.as_deref().ok_or_else(|| {
            Error::new(
                "cannot find your home folder: HOME is not set (set HOME or CLAUDE_CONFIG_DIR)",
            )
        })?;
        // The hook command expands it in whatever folder the agent runs it from.
        if dir.is_relative() {
            return Err(Error::new(format!(
                "CLAUDE_CONFIG_DIR is a relative path ({}): the hook command would look for telemhq \
                 relative to each project folder and fail; set it to an absolute path \
                 (e.g. export CLAUDE_CONFIG_DIR=\"$PWD/{}\")",
                crate::term::path(dir),
                crate::term::path(dir)
            )));
        }
        // Without CLAUDE_CONFIG_DIR the folder hangs off HOME, which must exist.
        if let Some(home) = &self.home
            && dir.starts_with(home)
            && !home.is_dir()
        {
            return Err(Error::new(format!(
                "your home folder {} does not exist (check HOME)",
                crate::term::path(home)
            )));
        }
        Ok(dir)
    }

    pub fn layout(&self) -> Result<Layout> {
        Ok(Layout::new(self.claude_dir()?))
    }

    /// Shows a path with the home folder as `~`, for messages, its control characters
    /// escaped (`term::safe`).
    pub fn show(&self, path: &Path) -> String {
        if let Some(home) = &self.home
            && let Ok(rest) = path.strip_prefix(home)
        {
            return crate::term::safe(&format!("~/{}", rest.display()));
        }
        crate::term::path(path)
    }
}

/// telemhq's private files, all under `<claude dir>/hooks` (mode 0700).
#[derive(Debug, Clone)]
pub struct Layout {
    pub claude_dir: PathBuf,
    pub hooks_dir: PathBuf,
    /// The link the hook command runs: `<claude dir>/hooks/telemhq` -> this binary.
    pub link: PathBuf,
    pub state_dir: PathBuf,
    pub config: PathBuf,
    pub installs: PathBuf,
    pub backups: PathBuf,
    pub queue: PathBuf,
    pub sent: PathBuf,
    pub failed: PathBuf,
    /// Markers of events already taken, for agents that run one hook twice.
    pub seen: PathBuf,
    pub install_lock: PathBuf,
    pub config_lock: PathBuf,
    pub queue_lock: PathBuf,
    pub sender_lock: PathBuf,
}

impl Layout {
    pub fn new(claude_dir: &Path) -> Layout {
        let hooks_dir = claude_dir.join("hooks");
        let state_dir = hooks_dir.join("telemhq.d");
        Layout {
            claude_dir: claude_dir.to_path_buf(),
            link: hooks_dir.join("telemhq"),
            config: state_dir.join("config.json"),
            installs: state_dir.join("installs.json"),
            backups: state_dir.join("backups"),
            queue: state_dir.join("queue"),
            sent: state_dir.join("sent"),
            failed: state_dir.join("failed"),
            seen: state_dir.join("seen"),
            install_lock: state_dir.join("install.lock"),
            config_lock: state_dir.join("config.lock"),
            queue_lock: state_dir.join("queue.lock"),
            sender_lock: state_dir.join("sender.lock"),
            hooks_dir,
            state_dir,
        }
    }
}

impl Layout {
    /// Every folder of telemhq's private state, outermost first: each must be a real
    /// folder of the user's own (never a link, a file, or someone else's).
    pub fn private_dirs(&self) -> [&Path; 7] {
        [
            &self.hooks_dir,
            &self.state_dir,
            &self.queue,
            &self.sent,
            &self.failed,
            &self.backups,
            &self.seen,
        ]
    }
}

/// Variables that CI providers set on their runners (besides the conventional `CI`).
const CI_PROVIDER_VARS: [&str; 10] = [
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "JENKINS_URL",
    "TF_BUILD",
    "TEAMCITY_VERSION",
    "BITBUCKET_BUILD_NUMBER",
    "TRAVIS",
    "DRONE",
];

/// Whether this runs in CI: `CI` set to anything but empty, `0` or `false`, or a known
/// provider's own variable.
pub fn in_ci(var: impl Fn(&str) -> Option<String>) -> bool {
    let ci = var("CI").is_some_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"));
    ci || CI_PROVIDER_VARS
        .iter()
        .any(|name| var(name).is_some_and(|v| !v.is_empty()))
}

/// The root of the git repository holding `from`: the nearest folder with a `.git`.
pub fn git_root(from: &Path) -> Option<PathBuf> {
    from.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}
