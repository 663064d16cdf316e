//! The files git tracks in a repository, read from its index file as data (format
//! versions 2, 3 and 4). No git command runs: a repository's own config can point git
//! at programs (an fsmonitor, hooks, a diff or ssh program), and doctor must run none.

use std::path::{Path, PathBuf};

/// An index larger than this is not read.
const MAX_INDEX: u64 = 256 * 1024 * 1024;

/// The repository's git folder: `.git`, or where a `.git` file points (`gitdir: …`, as
/// worktrees and submodules have).
fn git_dir(root: &Path) -> Result<PathBuf, String> {
    let dot_git = root.join(".git");
    let meta = std::fs::symlink_metadata(&dot_git).map_err(|e| e.to_string())?;
    if meta.is_dir() {
        return Ok(dot_git);
    }
    let text = crate::fsutil::read_regular(&dot_git).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&text);
    let target = text
        .lines()
        .find_map(|l| l.strip_prefix("gitdir:"))
        .map(str::trim)
        .ok_or(".git is a file without a gitdir line")?;
    Ok(root.join(target))
}

/// The paths (relative to the root) of the files in the repository's index.
pub fn tracked_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = git_dir(root)?;
    let index = dir.join("index");
    let file = match crate::fsutil::open_regular(&index) {
        Ok(file) => file,
        // No index: nothing is tracked yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", crate::term::path(&index))),
    };
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len > MAX_INDEX {
        return Err(format!("the index is larger than {} MiB", MAX_INDEX >> 20));
    }
    let bytes = std::fs::read(&index).map_err(|e| e.to_string())?;
    // SHA-256 repositories say so in their config; object ids are then 32 bytes.
    let config = crate::fsutil::read_regular(&dir.join("config")).unwrap_or_default();
    let sha256 = String::from_utf8_lossy(&config)
        .to_ascii_lowercase()
        .replace([' ', '\t'], "")
        .contains("objectformat=sha256");
    parse(&bytes, if sha256 { 32 } else { 20 })
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Parses an index: the regular files' paths (gitlinks and sparse folders skipped).
pub fn parse(b: &[u8], hash_len: usize) -> Result<Vec<PathBuf>, String> {
    let bad = || "an index telemhq cannot read".to_string();
    if b.get(..4) != Some(b"DIRC") {
        return Err(bad());
    }
    let version = be32(b, 4).ok_or_else(bad)?;
    if !(2..=4).contains(&version) {
        return Err(format!(
            "index version {version}, which telemhq does not read"
        ));
    }
    let count = be32(b, 8).ok_or_else(bad)? as usize;
    let mut at = 12;
    let mut out = Vec::with_capacity(count.min(1 << 20));
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let mode = be32(b, at + 24).ok_or_else(bad)?;
        let flags_at = at + 40 + hash_len;
        let flags = be16(b, flags_at).ok_or_else(bad)?;
        at = flags_at + 2;
        if version >= 3 && flags & 0x4000 != 0 {
            at += 2;
        }
        let name = if version == 4 {
            let (strip, used) = varint(b.get(at..).ok_or_else(bad)?).ok_or_else(bad)?;
            at += used;
            let end = at
                + b.get(at..)
                    .ok_or_else(bad)?
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(bad)?;
            let keep = previous.len().checked_sub(strip as usize).ok_or_else(bad)?;
            let mut name = previous[..keep].to_vec();
            name.extend_from_slice(&b[at..end]);
            at = end + 1;
            name
        } else {
            let end = at
                + b.get(at..)
                    .ok_or_else(bad)?
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(bad)?;
            let name = b[at..end].to_vec();
            // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
            at = start + ((end - start + 8) & !7);
            name
        };
        // Regular files and links only (no gitlinks, no sparse folders).
        if matches!(mode >> 12, 0o10 | 0o12) {
            out.push(PathBuf::from(String::from_utf8_lossy(&name).into_owned()));
        }
        previous = name;
    }
    Ok(out)
}

/// Git's offset varint (index v4 path prefixes): returns the value and bytes used.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut i = 0;
    let mut byte = *b.first()?;
    let mut value = u64::from(byte & 0x7f);
    while byte & 0x80 != 0 {
        i += 1;
        byte = *b.get(i)?;
        value = ((value + 1) << 7) | u64::from(byte & 0x7f);
    }
    Some((value, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn every_index_version_lists_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        for name in [
            "a.txt",
            "src/lib.rs",
            "src/long/nested/name.json",
            "src/long/nested/other.md",
        ] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, name).unwrap();
        }
        git(root, &["add", "."]);
        let mut lists = Vec::new();
        for version in ["2", "3", "4"] {
            git(root, &["update-index", "--index-version", version]);
            let mut files = tracked_files(root).unwrap();
            files.sort();
            lists.push(files);
        }
        assert_eq!(lists[0].len(), 4, "{:?}", lists[0]);
        assert_eq!(lists[0], lists[1]);
        assert_eq!(lists[0], lists[2]);
        assert!(lists[0].contains(&PathBuf::from("src/long/nested/other.md")));
    }

    #[test]
    fn damaged_indexes_are_errors_not_panics() {
        assert!(parse(b"DIRC", 20).is_err());
        assert!(parse(b"NOPE\0\0\0\x02\0\0\0\x01", 20).is_err());
        let mut truncated = b"DIRC\0\0\0\x02\0\0\0\x05".to_vec();
        truncated.extend([0u8; 70]);
        assert!(parse(&truncated, 20).is_err());
    }
}
