//! Writing a planned change to a settings file: the preview, the backup, the atomic,
//! symlink-aware, mode-keeping write, safe against concurrent writers; and the record
//! of what install created, which uninstall reads.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::env::Layout;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, Replaced};
use crate::hook_groups::{Created, Plan};
use crate::jsonedit::{self, Op, Style};
use crate::jsonfile::{self, SettingsFile};

/// What install created in one settings file, kept in `installs.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// The file did not exist before install.
    #[serde(default)]
    pub created_file: bool,
    /// Written by earlier releases: the file's folder did not exist before install.
    #[serde(default, skip_serializing)]
    pub created_dir: bool,
    /// Folders install created for the file, outermost first; uninstall removes each
    /// that is empty again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_dirs: Vec<String>,
    /// The file held only whitespace before install: this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blank_text: Option<String>,
    #[serde(default)]
    pub created: Created,
    /// In a Codex config: what install created there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex: Option<crate::codex::hooks::Created>,
    /// Containers that were empty before install with whitespace inside (`{ }`, `[\n]`),
    /// by JSON Pointer: emptied again on uninstall, they get it back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub blank_inner: BTreeMap<String, String>,
}

impl Record {
    /// The folders install created, outermost first (earlier releases kept only a flag
    /// for the file's own folder).
    fn dirs(&self, real: &Path) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.created_dirs.iter().map(PathBuf::from).collect();
        if dirs.is_empty()
            && self.created_dir
            && let Some(parent) = real.parent()
        {
            dirs.push(parent.to_path_buf());
        }
        dirs
    }
}

pub type Records = BTreeMap<String, Record>;

/// Reads the record of what install created. A damaged record is an error that says
/// how to recover (uninstall still works without it: see `commit`).
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
        if record.created_dirs.is_empty() {
            record.created_dirs = record
                .dirs(Path::new(file))
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect();
        }
    }
    Ok(records)
}

pub fn damaged_record(layout: &Layout, why: &str) -> Error {
    let path = layout.installs.display();
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

/// The text a plan leads to. New or blank files get a fresh, 2-space document.
/// `blank_inner`: install adds the whitespace of each empty container it fills;
/// uninstall gives it back to each container it empties.
pub fn render(
    file: &SettingsFile,
    plan: &Plan,
    blank_inner: &mut BTreeMap<String, String>,
    installing: bool,
) -> Result<String> {
    let text = match &file.text {
        Some(t) if !t.trim().is_empty() => {
            let style = Style::detect(t);
            let mut text = t.clone();
            for op in &plan.ops {
                let filled = match op {
                    Op::Set(path, _) => path.split_last().map(|(_, parent)| parent),
                    Op::Append(path, _) => Some(path.as_slice()),
                    Op::Remove(_) => None,
                };
                if installing
                    && let Some(container) = filled
                    && let Some(inner) = jsonedit::empty_inner(&text, container)
                    && !inner.is_empty()
                {
                    blank_inner
                        .entry(jsonedit::pointer(container))
                        .or_insert_with(|| inner.to_string());
                }
                text = jsonedit::apply(&text, op, &style).ok_or_else(|| {
                    Error::new(format!(
                        "internal error: could not apply {op:?}; nothing was written"
                    ))
                })?;
                if !installing
                    && let Op::Remove(path) = op
                    && let Some((_, parent)) = path.split_last()
                    && let Some(inner) = blank_inner.get(&jsonedit::pointer(parent))
                    && let Some(restored) = jsonedit::set_empty_inner(&text, parent, inner)
                {
                    text = restored;
                }
            }
            text
        }
        _ => {
            let mut s = serde_json::to_string_pretty(&plan.new).expect("a Value serialises");
            s.push('\n');
            s
        }
    };
    // The text edit and the value edit must agree; never write a file that says otherwise.
    let reparsed = jsonfile::parse_strict(&text).map_err(|e| {
        Error::new(format!(
            "internal error: the edited text does not parse ({}); nothing was written",
            e.problem()
        ))
    })?;
    if reparsed != plan.new {
        return Err(Error::new(
            "internal error: the edited text differs from the planned document; nothing was written",
        ));
    }
    Ok(text)
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

/// The change as an RFC 6902 JSON Patch, for scripts (`--dry-run --json-patch`).
pub fn json_patch(old: &serde_json::Value, new_text: Option<&str>) -> String {
    let new = new_text
        .and_then(|t| jsonfile::parse_strict(t).ok())
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    serde_json::to_string_pretty(&json_patch::diff(old, &new)).expect("a patch serialises")
}

/// What the file will hold: text, or no file at all.
pub type NewContent = Option<String>;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    UpToDate,
    Written { backup: Option<PathBuf> },
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

/// A file's current text, whatever its format.
pub trait HasText {
    fn text(&self) -> Option<&str>;
}

impl HasText for SettingsFile {
    fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
}

impl HasText for Option<String> {
    fn text(&self) -> Option<&str> {
        self.as_deref()
    }
}

/// Applies a change under telemhq's install lock, to a file of any format: `read` loads
/// it (strictly, with errors that say where). `compute` is called with the file as
/// it is now and the record of what install created, and returns the new content and
/// the new record (None: forget it). If someone else writes the file meanwhile (another
/// install, Claude Code itself), the change is computed again on their version. The
/// file keeps its mode and its owner; folders install created are removed once the
/// record that made them is forgotten and they are empty.
pub fn commit<D, R, F>(
    layout: &Layout,
    real: &Path,
    if_damaged: IfRecordDamaged,
    read: R,
    mut compute: F,
) -> Result<Outcome>
where
    D: HasText,
    R: Fn(&Path) -> Result<D>,
    F: FnMut(&D, Option<&Record>) -> Result<(NewContent, Option<Record>)>,
{
    fsutil::ensure_private_dir(&layout.hooks_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir)?;
    let _lock = fsutil::lock_file(&layout.install_lock, true)?;
    let key = record_key(real);
    for _ in 0..20 {
        let file = read(real)?;
        let records = match (load_records(layout), if_damaged) {
            (Ok(records), _) => Some(records),
            (Err(e), IfRecordDamaged::Refuse) => return Err(e),
            (Err(_), IfRecordDamaged::GoOn) => None,
        };
        let old = records.as_ref().and_then(|r| r.get(&key)).cloned();
        let (new, mut record) = compute(&file, old.as_ref())?;
        if new.as_deref() == file.text() {
            return Ok(Outcome::UpToDate);
        }
        let backup = match file.text() {
            Some(old) => Some(write_backup(layout, real, old)?),
            None => None,
        };
        if let Some(ms) = std::env::var("TELEMHQ_TEST_PAUSE_BEFORE_WRITE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            // Fault injection for tests: widen the window another writer could hit.
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let expected = file.text().map(str::as_bytes);
        let replaced = match &new {
            Some(text) => {
                let meta = fs::metadata(real).ok();
                let mode = meta
                    .as_ref()
                    .map_or(0o644, |m| m.permissions().mode() & 0o7777);
                let owner = meta.as_ref().map(|m| (m.uid(), m.gid()));
                if let Some(dir) = real.parent() {
                    let missing = fsutil::missing_dirs(dir);
                    fs::create_dir_all(dir).ctx("create", dir)?;
                    if let Some(r) = &mut record {
                        r.created_dirs
                            .extend(missing.iter().map(|d| d.to_string_lossy().into_owned()));
                    }
                }
                fsutil::replace_if_unchanged(real, text.as_bytes(), mode, owner, expected)?
            }
            None if fsutil::read_regular(real).ok().as_deref() != expected => Replaced::Raced,
            None => {
                fs::remove_file(real).ctx("remove", real)?;
                Replaced::Done
            }
        };
        if replaced == Replaced::Raced {
            continue; // someone else wrote it: plan again on their version
        }
        if let Some(mut records) = records {
            match record {
                Some(r) => {
                    records.insert(key.clone(), r);
                }
                None => {
                    records.remove(&key);
                    if let Some(old) = &old {
                        remove_created_dirs(&mut records, &old.dirs(real));
                    }
                }
            }
            save_records(layout, &records)?;
        }
        return Ok(Outcome::Written { backup });
    }
    Err(Error::new(format!(
        "{} kept changing while telemhq tried to update it; nothing was written, try again",
        real.display()
    )))
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
