//! One error type for the whole program: a message for the user (naming the file,
//! line or field at fault) and the exit code it maps to.

use std::fmt;
use std::path::Path;

#[derive(Debug)]
pub struct Error {
    pub message: String,
    pub code: i32,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            code: 1,
        }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            code: 2,
        }
    }

    /// An I/O failure on a path: `cannot read /x/settings.json: Permission denied`.
    pub fn io(action: &str, path: &Path, err: &std::io::Error) -> Error {
        Error::new(format!(
            "cannot {action} {}: {}",
            crate::term::path(path),
            io_reason(err)
        ))
    }
}

/// An I/O error in words, without the OS error number.
pub fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::NotFound => "no such file or folder".to_string(),
        _ => strip_os_code(&err.to_string()),
    }
}

fn strip_os_code(s: &str) -> String {
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Adds the path to an io::Result's error.
pub trait IoContext<T> {
    fn ctx(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(action, path, &e))
    }
}
