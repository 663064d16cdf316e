//! File-system helpers: atomic writes, private folders, regular-file reads, locks.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Writes a file atomically: a temporary file in the same folder, fsync, rename.
/// The new file gets `mode` exactly (umask does not apply).
pub fn write_atomic(target: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    put_file(target, bytes, mode, true)
}

/// Writes a whole new file under `target`'s name via a temporary file and a rename, so
/// that a reader never sees half of it. `durable`: fsync the file and the folder (a
/// rename alone survives the process being killed, not a power cut). Nothing is left
/// behind when a step fails.
pub fn put_file(target: &Path, bytes: &[u8], mode: u32, durable: bool) -> Result<()> {
    let tmp = write_temp_beside(target, bytes, mode, durable)?;
    if let Err(e) = fs::rename(&tmp, target).ctx("replace", target) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if durable {
        sync_parent(target);
    }
    Ok(())
}

/// Writes `bytes` to a new temporary file next to `target` with exactly `mode`; removes
/// it again if anything fails (a full disk must not leave empty files behind).
fn write_temp_beside(target: &Path, bytes: &[u8], mode: u32, durable: bool) -> Result<PathBuf> {
    let tmp = temp_beside(target);
    let mut created = false;
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .ctx("write", &tmp)?;
        created = true;
        file.write_all(bytes).ctx("write", &tmp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .ctx("set the mode of", &tmp)?;
        if durable {
            file.sync_all().ctx("write", &tmp)?;
        }
        Ok(())
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            if created {
                let _ = fs::remove_file(&tmp);
            }
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

/// Owner and group a written file must keep (when root writes another user's file).
pub type Owner = (u32, u32);

/// Writes `bytes` over `target` atomically, but only if `target` still holds `expected`
/// (None: the file does not exist), so that a concurrent writer's change is not lost.
/// On Linux the new file is swapped in with renameat2(RENAME_EXCHANGE) and the content
/// it replaced is compared; on a mismatch the other writer's file is put back (a write
/// that lands after the swap is not seen). Elsewhere: a re-read just before the rename.
pub fn replace_if_unchanged(
    target: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<Owner>,
    expected: Option<&[u8]>,
) -> Result<Replaced> {
    let tmp = write_temp_beside(target, bytes, mode, true)?;
    let outcome =
        keep_owner(&tmp, target, owner).and_then(|()| swap_checked(&tmp, target, expected));
    let _ = fs::remove_file(&tmp);
    sync_parent(target);
    outcome
}

fn keep_owner(tmp: &Path, target: &Path, owner: Option<Owner>) -> Result<()> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    let meta = fs::metadata(tmp).ctx("read", tmp)?;
    if (meta.uid(), meta.gid()) == (uid, gid) {
        return Ok(());
    }
    std::os::unix::fs::chown(tmp, Some(uid), Some(gid)).map_err(|e| {
        Error::new(format!(
            "cannot keep the owner of {} (user {uid}, group {gid}): {}; nothing was changed",
            crate::term::path(target),
            crate::error::io_reason(&e)
        ))
    })
}

#[cfg(target_os = "linux")]
fn swap_checked(tmp: &Path, target: &Path, expected: Option<&[u8]>) -> Result<Replaced> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    let flags = if expected.is_some() {
        RenameFlags::EXCHANGE
    } else {
        RenameFlags::NOREPLACE
    };
    match renameat_with(CWD, tmp, CWD, target, flags) {
        Ok(()) => {}
        Err(Errno::EXIST) => return Ok(Replaced::Raced), // created meanwhile
        Err(Errno::NOENT) if expected.is_some() => return Ok(Replaced::Raced), // removed meanwhile
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
            return swap_by_rereading(tmp, target, expected);
        }
        Err(e) => return Err(Error::io("replace", target, &std::io::Error::from(e))),
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
        Err(e) => return Err(Error::io("read", target, &e)),
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

/// Whether a file name is one of telemhq's temporary files.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".telemhq-") && name.ends_with(".tmp")
}

/// Writes one of telemhq's own files: atomic, mode 0600.
pub fn write_private(target: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(target, bytes, 0o600)
}

/// The effective user id of this process.
pub fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
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

/// Checks that a private folder, if it exists, is a real folder owned by this user, and
/// returns its mode (None: it does not exist). A link, a file, a FIFO or someone else's
/// folder is refused with a message that says what to do; nothing is changed.
pub fn check_private_dir(dir: &Path) -> Result<Option<u32>> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", dir, &e)),
    };
    let what = if meta.file_type().is_symlink() {
        let target = fs::read_link(dir)
            .map(|t| crate::term::path(&t))
            .unwrap_or_default();
        Some(format!("is a link (to {target}), not a folder"))
    } else if !meta.is_dir() {
        Some(format!("is {}, not a folder", kind_of(&meta)))
    } else if meta.uid() != my_uid() {
        Some(format!(
            "belongs to user {}, not to you (user {})",
            meta.uid(),
            my_uid()
        ))
    } else {
        None
    };
    match what {
        Some(what) => Err(Error::new(format!(
            "{} {what}: telemhq keeps its private state only in a real folder of your own, \
             so it will not use or change it; move it aside and run again (nothing was changed)",
            crate::term::path(dir)
        ))),
        None => Ok(Some(meta.permissions().mode() & 0o7777)),
    }
}

/// Makes a private folder exist as a real folder of this user's with mode 0700: created
/// if missing, tightened if looser. Refuses (changing nothing) what `check_private_dir`
/// refuses.
pub fn ensure_private_dir(dir: &Path) -> Result<DirChange> {
    match check_private_dir(dir)? {
        Some(0o700) => Ok(DirChange::Unchanged),
        Some(mode) => {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .ctx("set the mode of", dir)?;
            Ok(DirChange::Tightened { from: mode })
        }
        None => {
            if let Some(parent) = dir.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .ctx("create", parent)?;
            }
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                // Made by a concurrent telemhq meanwhile: check what is there now.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return ensure_private_dir(dir);
                }
                Err(e) => return Err(Error::io("create", dir, &e)),
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .ctx("set the mode of", dir)?;
            Ok(DirChange::Created)
        }
    }
}

/// A file type in words, for messages.
pub fn kind_of(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a link"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a file"
    }
}

/// Opens a file for reading only if it is a regular file (following links). A FIFO or a
/// device is refused without blocking: opening one could wait forever for a writer.
pub fn open_regular(path: &Path) -> std::io::Result<fs::File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", kind_of(&meta)),
        ));
    }
    Ok(file)
}

/// Reads a whole regular file (see `open_regular`).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads a regular file of at most `max` bytes: a larger one is not read at all (an
/// error), so a read on a hook's path costs what its bound allows, whatever the file.
pub fn read_regular_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    (&mut file).take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(bytes)
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

/// The folders `create_dir_all(dir)` would create, outermost first.
pub fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
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

/// Random bytes from the operating system. Ids and secrets must not be predictable, so
/// there is no fallback: a system without a random source is an error.
pub fn random_bytes<const N: usize>() -> std::result::Result<[u8; N], String> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| format!("no random numbers from the system: {e}"))?;
    Ok(buf)
}

/// Takes an exclusive lock on a side file (created 0600), held until the File drops.
/// `wait: false` returns None when another process holds it.
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
            Err(fs::TryLockError::Error(e)) => Err(Error::io("lock", path, &e)),
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
            replace_if_unchanged(&file, b"one", 0o640, None, None).unwrap(),
            Replaced::Done
        );
        assert_eq!(fs::read(&file).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // Expected "one", found "one": replaced.
        assert_eq!(
            replace_if_unchanged(&file, b"two", 0o640, None, Some(b"one")).unwrap(),
            Replaced::Done
        );
        // Expected "one", found "two" (someone else's write): theirs stays.
        assert_eq!(
            replace_if_unchanged(&file, b"three", 0o640, None, Some(b"one")).unwrap(),
            Replaced::Raced
        );
        assert_eq!(fs::read(&file).unwrap(), b"two");
        // Expected no file, found one: theirs stays.
        assert_eq!(
            replace_if_unchanged(&file, b"four", 0o640, None, None).unwrap(),
            Replaced::Raced
        );
        assert_eq!(fs::read(&file).unwrap(), b"two");
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn private_folders_refuse_links_and_files_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let link = dir.path().join("hooks");
        std::os::unix::fs::symlink(&shared, &link).unwrap();
        let err = ensure_private_dir(&link).unwrap_err().to_string();
        assert!(err.contains("is a link"), "{err}");
        assert_eq!(
            fs::metadata(&shared).unwrap().permissions().mode() & 0o7777,
            0o1777
        );
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            ensure_private_dir(&file)
                .unwrap_err()
                .to_string()
                .contains("is a file")
        );
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o644
        );
        // A real folder of one's own is tightened.
        let own = dir.path().join("own");
        fs::create_dir(&own).unwrap();
        fs::set_permissions(&own, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            ensure_private_dir(&own).unwrap(),
            DirChange::Tightened { from: 0o755 }
        );
    }

    #[test]
    fn a_fifo_is_not_opened_as_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = read_regular(&fifo).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The rename cannot replace a folder that holds something: the write fails late.
        let target = dir.path().join("entry.json");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), "x").unwrap();
        assert!(put_file(&target, b"{}", 0o600, false).is_err());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("entry.json")]);
    }

    #[test]
    fn missing_dirs_lists_what_would_be_created() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        assert_eq!(
            missing_dirs(&deep),
            vec![dir.path().join("a"), dir.path().join("a/b"), deep.clone()]
        );
        fs::create_dir_all(&deep).unwrap();
        assert!(missing_dirs(&deep).is_empty());
    }
}
