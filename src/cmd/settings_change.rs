//! Writing a planned change to a settings file: the preview, the backup, the atomic,
//! symlink-aware, mode-keeping write, safe against concurrent writers; and the record
//! of what install created, which uninstall reads.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::claude::hooks::{Created, Plan};
use crate::claude::jsonedit::{self, Style};
use crate::claude::settings::{self, SettingsFile};
use crate::env::Layout;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, Replaced};

/// What install created in one settings file, kept in `installs.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// The file did not exist before install.
    #[serde(default)]
    pub created_file: bool,
    /// Its folder did not exist before install.
    #[serde(default)]
    pub created_dir: bool,
    /// The file held only whitespace before install: this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blank_text: Option<String>,
    #[serde(default)]
    pub created: Created,
}

pub type Records = BTreeMap<String, Record>;

pub fn load_records(layout: &Layout) -> Result<Records> {
    match fs::read(&layout.installs) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(format!("{}: {e}", layout.installs.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Records::new()),
        Err(e) => Err(Error::io("read", &layout.installs, &e)),
    }
}

fn save_records(layout: &Layout, records: &Records) -> Result<()> {
    let text = serde_json::to_string_pretty(records).expect("records serialise") + "\n";
    fsutil::write_private(&layout.installs, text.as_bytes())
}

pub fn record_key(real: &Path) -> String {
    real.to_string_lossy().into_owned()
}

/// The text a plan leads to. New or blank files get a fresh, 2-space document.
pub fn render(file: &SettingsFile, plan: &Plan) -> Result<String> {
    let text = match &file.text {
        Some(t) if !t.trim().is_empty() => {
            let style = Style::detect(t);
            let mut text = t.clone();
            for op in &plan.ops {
                text = jsonedit::apply(&text, op, &style).ok_or_else(|| {
                    Error::new(format!(
                        "internal error: could not apply {op:?}; nothing was written"
                    ))
                })?;
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
    let reparsed = settings::parse_strict(&text).map_err(|e| {
        Error::new(format!(
            "internal error: the edited text does not parse ({e}); nothing was written"
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
        .and_then(|t| settings::parse_strict(t).ok())
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

/// Applies a change under telemhq's install lock. `compute` is called with the file as
/// it is now and the record of what install created, and returns the new content and
/// the new record (None: forget it). If someone else writes the file meanwhile (another
/// install, Claude Code itself), the change is computed again on their version.
pub fn commit<F>(layout: &Layout, real: &Path, mut compute: F) -> Result<Outcome>
where
    F: FnMut(&SettingsFile, Option<&Record>) -> Result<(NewContent, Option<Record>)>,
{
    fsutil::ensure_private_dir(&layout.state_dir)?;
    let _lock = fsutil::lock_file(&layout.install_lock, true)?;
    let key = record_key(real);
    for _ in 0..20 {
        let file = settings::read(real)?;
        let mut records = load_records(layout)?;
        let (new, record) = compute(&file, records.get(&key))?;
        if new == file.text {
            return Ok(Outcome::UpToDate);
        }
        let backup = match &file.text {
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
        let expected = file.text.as_deref().map(str::as_bytes);
        let replaced = match &new {
            Some(text) => {
                let mode = fs::metadata(real)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o644);
                if let Some(dir) = real.parent() {
                    fs::create_dir_all(dir).ctx("create", dir)?;
                }
                fsutil::replace_if_unchanged(real, text.as_bytes(), mode, expected)?
            }
            None if fs::read(real).ok().as_deref() != expected => Replaced::Raced,
            None => {
                fs::remove_file(real).ctx("remove", real)?;
                Replaced::Done
            }
        };
        if replaced == Replaced::Raced {
            continue; // someone else wrote it: plan again on their version
        }
        match record {
            Some(r) => records.insert(key.clone(), r),
            None => records.remove(&key),
        };
        save_records(layout, &records)?;
        return Ok(Outcome::Written { backup });
    }
    Err(Error::new(format!(
        "{} kept changing while telemhq tried to update it; nothing was written, try again",
        real.display()
    )))
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
    let stamp = crate::ping::payload::rfc3339_now().replace(':', "");
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
