//! One install transaction, for install and uninstall and any set of agents: every file
//! is read and its change planned first (every problem named, nothing written if there
//! is one), then shown and confirmed once, then written: each file atomically, only if
//! it still holds what the change was planned from (else everything is planned again on
//! what is there now), keeping its mode and owner, the previous content in a private
//! backup; and if a write fails, the files already written get their old content back.
//! The record of what install created (`installs.json`) is kept here.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::agents::{Agent, Scope};
use crate::env::{Env, Layout};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, Replaced};
use crate::hookfile::{EditError, Edited, Format, Record, ToolActivity};
use crate::jsonfile::{self, ReadError};

pub type Records = BTreeMap<String, Record>;

/// What to do to each agent's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Install(ToolActivity),
    Uninstall,
}

/// An agent in a scope: the unit install and uninstall work on.
#[derive(Clone, Copy)]
pub struct Target {
    pub agent: &'static dyn Agent,
    pub scope: Scope,
}

/// What a file is to its agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It holds telemhq's hooks.
    Hooks,
    /// It holds the agent's trust in the hooks of another file (Codex's user config).
    Trust,
}

/// A planned change of one file.
#[derive(Clone)]
pub struct Change {
    pub agent: &'static dyn Agent,
    pub role: Role,
    /// The file as the agent names it, and with links resolved (where it is written).
    pub path: PathBuf,
    pub real: PathBuf,
    pub old: Option<String>,
    pub new: Option<String>,
    /// The file's record after the change (None: forgotten).
    pub record: Option<Record>,
    pub format: Format,
}

impl Change {
    pub fn changes_anything(&self) -> bool {
        self.old != self.new
    }
}

/// Reads the record of what install created. A damaged record is an error that says
/// how to recover (uninstall still works without it).
pub fn load_records(layout: &Layout) -> Result<Records> {
    let bytes = match fsutil::read_regular(&layout.installs) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Records::new()),
        Err(e) => return Err(Error::io("read", &layout.installs, &e)),
    };
    let mut records: Records =
        serde_json::from_slice(&bytes).map_err(|e| damaged_record(layout, &e.to_string()))?;
    // Records of earlier releases kept a flag for the file's folder: carry it over, since
    // the flag itself is not written back.
    for (file, record) in records.iter_mut() {
        if record.created_dirs.is_empty()
            && record.created_dir
            && let Some(parent) = Path::new(file).parent()
        {
            record.created_dirs = vec![parent.to_string_lossy().into_owned()];
        }
    }
    Ok(records)
}

pub fn damaged_record(layout: &Layout, why: &str) -> Error {
    let path = crate::term::path(&layout.installs);
    Error::new(format!(
        "telemhq's record of what it installed, {path}, is damaged ({why}). To recover: \
         `telemhq uninstall` still removes telemhq's hooks without it (it keeps the folders and \
         empty containers install may have created); then move the record aside \
         (mv {path} {path}.damaged) and install again"
    ))
}

fn save_records(layout: &Layout, records: &Records) -> Result<()> {
    let text = serde_json::to_string_pretty(records).expect("records serialise") + "\n";
    fsutil::write_private(&layout.installs, text.as_bytes())
}

pub fn record_key(real: &Path) -> String {
    real.to_string_lossy().into_owned()
}

/// A file's text (None: it does not exist); never a FIFO or a device; with the place of
/// a byte that is not UTF-8.
fn read_text(path: &Path) -> std::result::Result<Option<String>, ReadError> {
    match fsutil::read_regular(path) {
        Ok(bytes) => jsonfile::utf8(bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ReadError::Io(crate::error::io_reason(&e))),
    }
}

/// The error for a file that cannot be changed: where, what is wrong (as the agent sees
/// it), and that nothing changed.
fn edit_error(agent: &dyn Agent, path: &Path, e: EditError) -> Error {
    let shown = crate::term::path(path);
    match e {
        EditError::Read(ReadError::Io(why)) => Error::new(format!("cannot read {shown}: {why}")),
        EditError::Read(e) => {
            let (line, column) = e.position().unwrap_or((1, 1));
            Error::new(format!(
                "{shown}:{line}:{column}: {}\n  fix it and run again (your file was not changed)",
                agent.read_problem(&e)
            ))
        }
        EditError::Shape(at) => Error::new(format!(
            "{shown}: a shape {} does not accept at {at}; nothing was changed",
            agent.display_name()
        )),
        EditError::CannotEdit(why) => Error::new(format!("{shown}: {why}; nothing was changed")),
        EditError::Internal(why) => Error::new(format!("{shown}: {why}")),
    }
}

/// The file of a target, or why the agent has none for that scope.
pub fn hook_path(target: Target, env: &Env) -> Result<PathBuf> {
    let agent = target.agent;
    match agent.hook_file(env, target.scope) {
        Some(path) => path,
        None => Err(Error::usage(format!(
            "{} has no {} settings: use --global or --repo with --agent {}",
            agent.display_name(),
            match target.scope {
                Scope::Local => "personal per-repository",
                Scope::Repo => "per-repository",
                Scope::Global => "user",
            },
            agent.id()
        ))),
    }
}

/// Plans every change of a transaction. Every target is planned even after one fails, so
/// that the error names every problem; then nothing is written.
pub fn plan(
    env: &Env,
    targets: &[Target],
    action: Action,
    records: &Records,
) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for &target in targets {
        match plan_one(env, target, action, records) {
            Ok(mut c) => changes.append(&mut c),
            Err(e) => problems.push(e),
        }
    }
    for (i, c) in changes.iter().enumerate() {
        if changes[..i].iter().any(|d| d.real == c.real) {
            problems.push(Error::new(format!(
                "internal error: {} would be changed twice in one go; nothing was changed",
                crate::term::path(&c.path)
            )));
        }
    }
    match problems.len() {
        0 => Ok(changes),
        1 => Err(problems.remove(0)),
        n => {
            let code = problems.iter().map(|p| p.code).max().unwrap_or(1);
            let list: Vec<String> = problems.iter().map(|p| format!("- {p}")).collect();
            Err(Error {
                message: format!(
                    "{n} files cannot be changed, so none was:\n{}",
                    list.join("\n")
                ),
                code,
            })
        }
    }
}

fn plan_one(env: &Env, target: Target, action: Action, records: &Records) -> Result<Vec<Change>> {
    let agent = target.agent;
    let path = hook_path(target, env)?;
    let real = fsutil::resolve_symlinks(&path);
    let old = read_text(&real).map_err(|e| edit_error(agent, &path, e.into()))?;
    let record = records.get(&record_key(&real));
    let format = agent.format_for(&path);
    let change = |role, path: PathBuf, real: PathBuf, old: Option<String>, edited: Edited| Change {
        agent,
        role,
        path,
        real,
        old,
        new: edited.text,
        record: edited.record,
        format,
    };
    let Format::CodexToml(set) = format else {
        let edited = match action {
            Action::Install(tools) => format.install(old.as_deref(), record, tools),
            Action::Uninstall => format.uninstall(old.as_deref(), record),
        }
        .map_err(|e| edit_error(agent, &path, e))?;
        return Ok(vec![change(Role::Hooks, path, real, old, edited)]);
    };
    // Codex: the trust for the hooks goes into the user's config, wherever the hooks are,
    // keyed by the hook file's path as Codex names it.
    let trust_path = agent
        .trust_file(env)
        .ok_or_else(|| Error::new("internal error: Codex without a trust file"))??;
    let trust_real = fsutil::resolve_symlinks(&trust_path);
    let source = path.to_string_lossy().into_owned();
    if trust_real == real {
        let edited = match action {
            Action::Install(tools) => set.install(old.as_deref(), record, tools, Some(&source)),
            Action::Uninstall => set.uninstall(old.as_deref(), record, Some(&source)),
        }
        .map_err(|e| edit_error(agent, &path, e))?;
        return Ok(vec![change(Role::Hooks, path, real, old, edited)]);
    }
    let hooks = match action {
        Action::Install(tools) => set.install(old.as_deref(), record, tools, None),
        Action::Uninstall => set.uninstall(old.as_deref(), record, None),
    }
    .map_err(|e| edit_error(agent, &path, e))?;
    let trust_old = read_text(&trust_real).map_err(|e| edit_error(agent, &trust_path, e.into()))?;
    let trust = set
        .retrust(
            trust_old.as_deref(),
            records.get(&record_key(&trust_real)),
            &source,
            old.as_deref().unwrap_or(""),
            hooks.text.as_deref().unwrap_or(""),
        )
        .map_err(|e| edit_error(agent, &trust_path, e))?;
    Ok(vec![
        change(Role::Hooks, path, real, old, hooks),
        change(Role::Trust, trust_path, trust_real, trust_old, trust),
    ])
}

/// What happened to each file.
pub struct Written {
    pub change: Change,
    /// The previous content, kept privately.
    pub backup: Option<PathBuf>,
}

/// What to do when the install record is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfRecordDamaged {
    /// Refuse, saying how to recover (install needs the record).
    Refuse,
    /// Go on without it and leave it as it is (uninstall: telemhq's entries are known by
    /// their command).
    GoOn,
}

/// Writes a transaction under telemhq's install lock: plans it again on the files as
/// they are now, writes every change (each only if its file still holds what the change
/// was planned from; if one changed meanwhile, the files written so far get their old
/// content back and everything is planned again), then records what install created.
/// Returns the changes written (none: everything was up to date).
pub fn commit(
    env: &Env,
    layout: &Layout,
    targets: &[Target],
    action: Action,
    if_damaged: IfRecordDamaged,
) -> Result<Vec<Written>> {
    fsutil::ensure_private_dir(&layout.hooks_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir)?;
    let _lock = fsutil::lock_file(&layout.install_lock, true)?;
    for _ in 0..20 {
        let records = match (load_records(layout), if_damaged) {
            (Ok(records), _) => Some(records),
            (Err(e), IfRecordDamaged::Refuse) => return Err(e),
            (Err(_), IfRecordDamaged::GoOn) => None,
        };
        let empty = Records::new();
        let changes: Vec<Change> = plan(env, targets, action, records.as_ref().unwrap_or(&empty))?
            .into_iter()
            .filter(Change::changes_anything)
            .collect();
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let mut written: Vec<Written> = Vec::new();
        let mut created_dirs: Vec<(String, Vec<String>)> = Vec::new();
        let mut raced = false;
        for change in &changes {
            let backup = match &change.old {
                Some(old) => Some(write_backup(layout, &change.real, old)?),
                None => None,
            };
            test_pause();
            match write_one(change) {
                Ok((Replaced::Done, dirs)) => {
                    created_dirs.push((record_key(&change.real), dirs));
                    written.push(Written {
                        change: change.clone(),
                        backup,
                    });
                }
                Ok((Replaced::Raced, _)) => {
                    raced = true;
                    break;
                }
                Err(e) => {
                    roll_back(&written);
                    return Err(e);
                }
            }
        }
        if raced {
            roll_back(&written);
            continue; // someone else wrote a file: plan again on their version
        }
        if let Some(mut records) = records {
            for w in &written {
                let key = record_key(&w.change.real);
                match &w.change.record {
                    Some(r) => {
                        let mut r = r.clone();
                        if let Some((_, dirs)) = created_dirs.iter().find(|(k, _)| *k == key) {
                            r.created_dirs.extend(dirs.iter().cloned());
                        }
                        records.insert(key, r);
                    }
                    None => {
                        if let Some(old) = records.remove(&key) {
                            let dirs: Vec<PathBuf> =
                                old.created_dirs.iter().map(PathBuf::from).collect();
                            remove_created_dirs(&mut records, &dirs);
                        }
                    }
                }
            }
            save_records(layout, &records)?;
        }
        return Ok(written);
    }
    Err(Error::new(
        "the files kept changing while telemhq tried to update them; nothing was written, try again",
    ))
}

/// Fault injection for tests: widen the window another writer could hit.
fn test_pause() {
    if let Some(ms) = std::env::var("TELEMHQ_TEST_PAUSE_BEFORE_WRITE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Writes one change: the new text over the old (only if the file still holds the old),
/// or removes the file. Returns the folders it had to create.
fn write_one(change: &Change) -> Result<(Replaced, Vec<String>)> {
    let real = &change.real;
    let expected = change.old.as_deref().map(str::as_bytes);
    match &change.new {
        Some(text) => {
            let meta = fs::metadata(real).ok();
            let mode = meta
                .as_ref()
                .map_or(0o644, |m| m.permissions().mode() & 0o7777);
            let owner = meta.as_ref().map(|m| (m.uid(), m.gid()));
            let mut created = Vec::new();
            if let Some(dir) = real.parent() {
                created = fsutil::missing_dirs(dir)
                    .iter()
                    .map(|d| d.to_string_lossy().into_owned())
                    .collect();
                fs::create_dir_all(dir).ctx("create", dir)?;
            }
            let replaced =
                fsutil::replace_if_unchanged(real, text.as_bytes(), mode, owner, expected)?;
            Ok((replaced, created))
        }
        None if fsutil::read_regular(real).ok().as_deref() != expected => {
            Ok((Replaced::Raced, Vec::new()))
        }
        None => {
            fs::remove_file(real).ctx("remove", real)?;
            Ok((Replaced::Done, Vec::new()))
        }
    }
}

/// Puts back the old content of files written in a transaction that cannot finish
/// (each only if it still holds what telemhq wrote).
fn roll_back(written: &[Written]) {
    for w in written.iter().rev() {
        let c = &w.change;
        let undo = Change {
            old: c.new.clone(),
            new: c.old.clone(),
            ..c.clone()
        };
        let _ = write_one(&undo);
    }
}

/// Removes folders install created, innermost first, each only if empty. One still in
/// use by another installed file (`--repo` and `--local` share `.claude/`) is handed to
/// that file's record, so that its uninstall removes it.
fn remove_created_dirs(records: &mut Records, dirs: &[PathBuf]) {
    for dir in dirs.iter().rev() {
        if fs::remove_dir(dir).is_ok() {
            continue;
        }
        let heir = records
            .iter_mut()
            .find(|(file, _)| Path::new(file.as_str()).starts_with(dir));
        if let Some((_, record)) = heir {
            let dir = dir.to_string_lossy().into_owned();
            if !record.created_dirs.contains(&dir) {
                record.created_dirs.insert(0, dir);
            }
        }
    }
}

/// Keeps the previous content in the private folder, never beside a committed file.
fn write_backup(layout: &Layout, real: &Path, old: &str) -> Result<PathBuf> {
    fsutil::ensure_private_dir(&layout.backups)?;
    let id = &crate::hex(&<sha2::Sha256 as sha2::Digest>::digest(
        record_key(real).as_bytes(),
    ))[..8];
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stamp = crate::time::rfc3339_now().replace(':', "");
    let path = layout
        .backups
        .join(format!("{id}-{name}.{stamp}-{}", fsutil::unique_suffix()));
    fsutil::write_private(&path, old.as_bytes())?;
    prune_backups(&layout.backups, id, 10);
    Ok(path)
}

fn prune_backups(dir: &Path, id: &str, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut mine: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(id))
        })
        .collect();
    mine.sort();
    let excess = mine.len().saturating_sub(keep);
    for old in &mine[..excess] {
        let _ = fs::remove_file(old);
    }
}

/// A unified diff for the preview.
pub fn diff(shown_path: &str, old: Option<&str>, new: Option<&str>) -> String {
    let (a, b) = (old.unwrap_or(""), new.unwrap_or(""));
    let old_name = if old.is_some() {
        format!("a/{shown_path}")
    } else {
        "/dev/null".into()
    };
    let new_name = if new.is_some() {
        format!("b/{shown_path}")
    } else {
        "/dev/null".into()
    };
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &new_name)
        .to_string()
}
