//! A JSON settings file read strictly (no comments, no trailing commas), with errors
//! that say where: the files telemhq edits for Claude Code, Gemini CLI and Copilot CLI.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// A settings file as read from disk.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    /// The text, or None when the file does not exist.
    pub text: Option<String>,
    pub value: Value,
}

/// Why a settings file could not be taken as it is.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// Missing permissions, a FIFO or a folder in its place, …: the reason in words.
    Io(String),
    /// A byte that is not UTF-8, at this line and column.
    NotUtf8 { line: usize, column: usize },
    /// Not strict JSON: where, and what is wrong.
    Syntax {
        line: usize,
        column: usize,
        problem: String,
    },
    /// Valid JSON nested deeper than telemhq's parser goes.
    TooDeep { line: usize, column: usize },
}

impl ReadError {
    /// `line:column` where the problem is, if it has a place.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ReadError::Io(_) => None,
            ReadError::NotUtf8 { line, column }
            | ReadError::Syntax { line, column, .. }
            | ReadError::TooDeep { line, column } => Some((*line, *column)),
        }
    }

    /// What is wrong, in words.
    pub fn problem(&self) -> String {
        match self {
            ReadError::Io(why) => why.clone(),
            ReadError::NotUtf8 { .. } => {
                "a byte that is not UTF-8 text; telemhq edits only clean UTF-8, so that every \
                 byte stays as it was"
                    .into()
            }
            ReadError::Syntax { problem, .. } => format!("{problem}: not strict JSON"),
            ReadError::TooDeep { .. } => {
                "nested more than 128 levels deep: telemhq does not check or edit a file nested \
                 that deep"
                    .into()
            }
        }
    }

    /// The error for a command: the file, the place, what is wrong (`describe`), and
    /// that nothing changed.
    pub fn to_error(&self, path: &Path, describe: impl Fn(&ReadError) -> String) -> Error {
        match self {
            ReadError::Io(why) => Error::new(format!("cannot read {}: {why}", path.display())),
            _ => {
                let (line, column) = self.position().unwrap_or((1, 1));
                Error::new(format!(
                    "{}:{line}:{column}: {}\n  fix it and run again (your file was not changed)",
                    path.display(),
                    describe(self)
                ))
            }
        }
    }
}

/// Reads a settings file strictly, with errors that say where.
pub fn read(path: &Path) -> Result<SettingsFile> {
    load(path).map_err(|e| e.to_error(path, ReadError::problem))
}

/// Reads a settings file; a missing file is an empty document. Never blocks on a FIFO.
pub fn load(path: &Path) -> std::result::Result<SettingsFile, ReadError> {
    let bytes = match crate::fsutil::read_regular(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SettingsFile {
                text: None,
                value: Value::Object(Default::default()),
            });
        }
        Err(e) => return Err(ReadError::Io(crate::error::io_reason(&e))),
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(&String::from_utf8_lossy(
            &e.as_bytes()[..e.utf8_error().valid_up_to()],
        ));
        ReadError::NotUtf8 { line, column }
    })?;
    let value = parse_strict(&text)?;
    Ok(SettingsFile {
        text: Some(text),
        value,
    })
}

/// Parses strict JSON, with the place and the problem as data. Whitespace-only text
/// counts as an empty object (there is nothing in it to lose).
pub fn parse_strict(text: &str) -> std::result::Result<Value, ReadError> {
    if text.starts_with('\u{feff}') {
        return Err(ReadError::Syntax {
            line: 1,
            column: 1,
            problem: "starts with a byte-order mark (BOM), which strict JSON does not allow".into(),
        });
    }
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        if message.starts_with("recursion limit exceeded") {
            return ReadError::TooDeep { line, column };
        }
        let at = text
            .lines()
            .nth(line.saturating_sub(1))
            .and_then(|l| l.chars().nth(column.saturating_sub(1)));
        let problem = match (at, message.as_str()) {
            (Some('/'), _) => "comments are not allowed in JSON".to_string(),
            (_, m) if m.starts_with("trailing comma") => {
                "trailing comma: JSON allows no comma after the last item".into()
            }
            (_, m) if m.starts_with("EOF while parsing") => {
                format!("the file ends too early ({m}): is it cut short?")
            }
            (_, m) => m.to_string(),
        };
        ReadError::Syntax {
            line,
            column,
            problem,
        }
    })
}

fn line_col(prefix: &str) -> (usize, usize) {
    let line = prefix.matches('\n').count() + 1;
    let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> (usize, usize, String) {
        match parse_strict(text).unwrap_err() {
            ReadError::Syntax {
                line,
                column,
                problem,
            } => (line, column, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strict_errors_say_line_and_column() {
        assert_eq!(
            problem("{\n  // hi\n}"),
            (2, 3, "comments are not allowed in JSON".into())
        );
        assert!(problem("{\"a\": 1,\n}").2.starts_with("trailing comma"));
        assert!(problem("\u{feff}{}").2.contains("byte-order mark"));
        assert!(problem("{\"a\": ").2.contains("ends too early"));
    }

    #[test]
    fn deep_nesting_is_not_called_invalid() {
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(200), "]".repeat(200));
        let err = parse_strict(&deep).unwrap_err();
        assert!(matches!(err, ReadError::TooDeep { .. }), "{err:?}");
        assert!(!err.problem().contains("not strict"));
    }
}
