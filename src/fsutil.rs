//! File-system helpers: atomic writes, private folders and files.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// Writes a file atomically: a temporary file in the same folder, fsync, rename.
/// The new file gets `mode` exactly (umask does not apply).
pub fn write_atomic(target: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = write_temp_beside(target, bytes, mode)?;
    if let Err(e) = fs::rename(&tmp, target).ctx("replace", target) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent(target);
    Ok(())
}

/// Writes `bytes` to a new temporary file next to `target` with exactly `mode`, synced.
fn write_temp_beside(target: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf> {
    let tmp = temp_beside(target);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .ctx("write", &tmp)?;
        file.write_all(bytes).ctx("write", &tmp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .ctx("set the mode of", &tmp)?;
        file.sync_all().ctx("write", &tmp)
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Makes a rename in the target's folder durable.
fn sync_parent(target: &Path) {
    if let Some(dir) = target.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// What `replace_if_unchanged` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Replaced {
    Done,
    /// Someone else wrote the file meanwhile; their version is in place, nothing of ours.
    Raced,
}

/// Writes `bytes` over `target` atomically, but only if `target` still holds `expected`
/// (None: the file does not exist), so that a concurrent writer's change is never lost.
/// On Linux the check has no window: the new file is swapped in with
/// renameat2(RENAME_EXCHANGE) and the content it replaced is compared; on a mismatch the
/// other writer's file is put back. Elsewhere: a re-read just before a plain rename.
pub fn replace_if_unchanged(
    target: &Path,
    bytes: &[u8],
    mode: u32,
    expected: Option<&[u8]>,
) -> Result<Replaced> {
    let tmp = write_temp_beside(target, bytes, mode)?;
    let outcome = swap_checked(&tmp, target, expected);
    let _ = fs::remove_file(&tmp);
    sync_parent(target);
    outcome
}

#[cfg(target_os = "linux")]
fn swap_checked(tmp: &Path, target: &Path, expected: Option<&[u8]>) -> Result<Replaced> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL");
    let (from, to) = (c(tmp), c(target));
    let flags = if expected.is_some() {
        libc::RENAME_EXCHANGE
    } else {
        libc::RENAME_NOREPLACE
    };
    // SAFETY: two valid NUL-terminated paths; renameat2 does not keep them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            flags,
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EEXIST) => Ok(Replaced::Raced), // created meanwhile
            Some(libc::ENOENT) if expected.is_some() => Ok(Replaced::Raced), // removed meanwhile
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => {
                swap_by_rereading(tmp, target, expected)
            }
            _ => Err(crate::error::Error::io("replace", target, &err)),
        };
    }
    let Some(expected) = expected else {
        return Ok(Replaced::Done);
    };
    // `tmp` now holds what was in place a moment ago.
    if fs::read(tmp).ctx("read", tmp)? == expected {
        return Ok(Replaced::Done);
    }
    fs::rename(tmp, target).ctx("restore", target)?;
    Ok(Replaced::Raced)
}

#[cfg(not(target_os = "linux"))]
fn swap_checked(tmp: &Path, target: &Path, expected: Option<&[u8]>) -> Result<Replaced> {
    swap_by_rereading(tmp, target, expected)
}

fn swap_by_rereading(tmp: &Path, target: &Path, expected: Option<&[u8]>) -> Result<Replaced> {
    let now = match fs::read(target) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(crate::error::Error::io("read", target, &e)),
    };
    if now.as_deref() != expected {
        return Ok(Replaced::Raced);
    }
    fs::rename(tmp, target).ctx("replace", target)?;
    Ok(Replaced::Done)
}

fn temp_beside(target: &Path) -> PathBuf {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(
        ".{name}.telemhq-{}-{}.tmp",
        std::process::id(),
        unique_suffix()
    ))
}

/// Writes one of telemhq's own files: atomic, mode 0600.
pub fn write_private(target: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(target, bytes, 0o600)
}

/// What `ensure_private_dir` did.
#[derive(Debug, PartialEq, Eq)]
pub enum DirChange {
    Unchanged,
    Created,
    /// It existed with a looser mode, which was tightened to 0700.
    Tightened {
        from: u32,
    },
}

/// Makes a folder exist with mode 0700, tightening an existing looser one.
pub fn ensure_private_dir(dir: &Path) -> Result<DirChange> {
    match fs::metadata(dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o7777;
            if mode != 0o700 {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                    .ctx("set the mode of", dir)?;
                return Ok(DirChange::Tightened { from: mode });
            }
            Ok(DirChange::Unchanged)
        }
        Err(_) => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .ctx("create", dir)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .ctx("set the mode of", dir)?;
            Ok(DirChange::Created)
        }
    }
}

/// The file a path finally points to, following symlinks (also dangling ones), so that a
/// write replaces the target and keeps the link.
pub fn resolve_symlinks(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&current) {
            Ok(next) => {
                current = if next.is_absolute() {
                    next
                } else {
                    current.parent().unwrap_or(Path::new("/")).join(next)
                };
            }
            Err(_) => break,
        }
    }
    current
}

/// A short string that differs between calls, for temporary names.
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut buf = [0u8; N];
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        // Never expected on Unix; fall back to time and pid so ids still differ.
        let seed = format!("{}{}", unique_suffix(), std::process::id());
        let digest = crate::hex(&sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            seed,
        )));
        for (i, b) in buf.iter_mut().enumerate() {
            *b = digest.as_bytes()[i % digest.len()];
        }
    }
    buf
}

/// Takes an exclusive lock on a side file (created 0600), held until the File drops.
pub fn lock_file(path: &Path, wait: bool) -> Result<Option<fs::File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .ctx("open", path)?;
    if wait {
        file.lock().ctx("lock", path)?;
        Ok(Some(file))
    } else {
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(crate::error::Error::io("lock", path, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_if_unchanged_writes_only_over_what_it_expects() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        // A new file, and nobody else created it: written.
        assert_eq!(
            replace_if_unchanged(&file, b"one", 0o640, None).unwrap(),
            Replaced::Done
        );
        assert_eq!(fs::read(&file).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // Expected "one", found "one": replaced.
        assert_eq!(
            replace_if_unchanged(&file, b"two", 0o640, Some(b"one")).unwrap(),
            Replaced::Done
        );
        // Expected "one", found "two" (someone else's write): theirs stays.
        assert_eq!(
            replace_if_unchanged(&file, b"three", 0o640, Some(b"one")).unwrap(),
            Replaced::Raced
        );
        assert_eq!(fs::read(&file).unwrap(), b"two");
        // Expected no file, found one: theirs stays.
        assert_eq!(
            replace_if_unchanged(&file, b"four", 0o640, None).unwrap(),
            Replaced::Raced
        );
        assert_eq!(fs::read(&file).unwrap(), b"two");
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
