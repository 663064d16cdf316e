//! A JSON settings file read as its agent reads it, with errors that say where: strict
//! JSON (Claude Code ignores a file with a comment in it), or JSON with comments (Gemini
//! CLI and Copilot CLI strip `//` and `/* */` comments before parsing; nothing else is
//! loosened: no trailing commas, no single quotes).

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

/// Which JSON an agent accepts in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Strict,
    /// JSON with `//` and `/* */` comments.
    Comments,
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
            ReadError::Syntax { problem, .. } => format!("{problem}: not valid JSON"),
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
            ReadError::Io(why) => {
                Error::new(format!("cannot read {}: {why}", crate::term::path(path)))
            }
            _ => {
                let (line, column) = self.position().unwrap_or((1, 1));
                Error::new(format!(
                    "{}:{line}:{column}: {}\n  fix it and run again (your file was not changed)",
                    crate::term::path(path),
                    describe(self)
                ))
            }
        }
    }
}

/// Reads a settings file, with errors that say where.
pub fn read(path: &Path, dialect: Dialect) -> Result<SettingsFile> {
    load(path, dialect).map_err(|e| e.to_error(path, ReadError::problem))
}

/// The document in a file, when the file is there and reads.
pub fn value_of(path: &Path, dialect: Dialect) -> Option<Value> {
    load(path, dialect)
        .ok()
        .filter(|f| f.text.is_some())
        .map(|f| f.value)
}

/// Reads a settings file; a missing file is an empty document. Never blocks on a FIFO.
pub fn load(path: &Path, dialect: Dialect) -> std::result::Result<SettingsFile, ReadError> {
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
    let text = utf8(bytes)?;
    let value = parse(&text, dialect)?;
    Ok(SettingsFile {
        text: Some(text),
        value,
    })
}

/// Text from bytes, or the line and column of the first byte that is not UTF-8.
pub fn utf8(bytes: Vec<u8>) -> std::result::Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(&String::from_utf8_lossy(
            &e.as_bytes()[..e.utf8_error().valid_up_to()],
        ));
        ReadError::NotUtf8 { line, column }
    })
}

/// Parses a document in a dialect, with the place and the problem as data.
pub fn parse(text: &str, dialect: Dialect) -> std::result::Result<Value, ReadError> {
    match dialect {
        Dialect::Strict => parse_strict(text),
        Dialect::Comments => parse_with_comments(text),
    }
}

/// Whether a JSON-with-comments text holds no value at all (only comments).
pub fn holds_no_value(text: &str) -> bool {
    matches!(
        jsonc_parser::parse_to_serde_value::<Option<Value>>(text, &comments_only()),
        Ok(None)
    )
}

/// Parses JSON with comments (jsonc-parser, with every extension but comments off),
/// as the agents read it: their comments stripped, then JSON.parse, which refuses what
/// jsonc-parser lets through (a raw control character in a string, whitespace other
/// than spaces, tabs and line breaks).
pub fn parse_with_comments(text: &str) -> std::result::Result<Value, ReadError> {
    if text.starts_with('\u{feff}') {
        return Err(bom());
    }
    if let Some(refused) = what_json_parse_refuses(text) {
        return Err(refused);
    }
    match jsonc_parser::parse_to_serde_value::<Option<Value>>(text, &comments_only()) {
        Ok(Some(value)) => {
            if depth(&value) > MAX_DEPTH {
                let (line, column) = (1, 1);
                return Err(ReadError::TooDeep { line, column });
            }
            Ok(value)
        }
        // Only comments and whitespace: nothing in it to lose.
        Ok(None) => Ok(Value::Object(Default::default())),
        Err(e)
            if matches!(
                e.kind(),
                jsonc_parser::errors::ParseErrorKind::NestingDepthExceeded
            ) =>
        {
            Err(ReadError::TooDeep {
                line: e.line_display(),
                column: e.column_display(),
            })
        }
        Err(e) => {
            let problem = e.kind().to_string();
            let problem = if problem.to_ascii_lowercase().contains("trailing comma") {
                "trailing comma: JSON allows no comma after the last item".to_string()
            } else {
                problem
            };
            Err(ReadError::Syntax {
                line: e.line_display(),
                column: e.column_display(),
                problem,
            })
        }
    }
}

/// Where a text that jsonc-parser reads has what JSON.parse refuses (comments apart): a
/// character below U+0020 inside a string, or whitespace JSON does not have between
/// tokens (a form feed, a vertical tab, a no-break space, …).
fn what_json_parse_refuses(text: &str) -> Option<ReadError> {
    #[derive(PartialEq)]
    enum In {
        Tokens,
        Text,
        Escape,
        LineComment,
        BlockComment,
    }
    let (mut state, mut line, mut column) = (In::Tokens, 1usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        column += 1;
        let at = (line, column);
        if c == '\n' {
            line += 1;
            column = 0;
        }
        state = match state {
            In::Text if c == '"' => In::Tokens,
            In::Text if c == '\\' => In::Escape,
            In::Text if (c as u32) < 0x20 => {
                return Some(ReadError::Syntax {
                    line: at.0,
                    column: at.1,
                    problem: format!(
                        "a control character (U+{:04X}) inside a string, which must be written escaped",
                        c as u32
                    ),
                });
            }
            In::Text => In::Text,
            In::Escape => In::Text,
            In::LineComment if c == '\n' => In::Tokens,
            In::LineComment => In::LineComment,
            In::BlockComment if c == '*' && chars.peek() == Some(&'/') => {
                chars.next();
                column += 1;
                In::Tokens
            }
            In::BlockComment => In::BlockComment,
            In::Tokens if c == '"' => In::Text,
            In::Tokens if c == '/' && chars.peek() == Some(&'/') => In::LineComment,
            In::Tokens if c == '/' && chars.peek() == Some(&'*') => {
                chars.next();
                column += 1;
                In::BlockComment
            }
            In::Tokens if c.is_whitespace() && !matches!(c, ' ' | '\t' | '\n' | '\r') => {
                return Some(ReadError::Syntax {
                    line: at.0,
                    column: at.1,
                    problem: format!(
                        "whitespace U+{:04X}, where JSON allows only spaces, tabs and line breaks",
                        c as u32
                    ),
                });
            }
            In::Tokens => In::Tokens,
        };
    }
    None
}

/// jsonc-parser's options with every extension off but comments.
fn comments_only() -> jsonc_parser::ParseOptions {
    jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// How deep telemhq reads and edits (serde_json's own limit for strict JSON).
const MAX_DEPTH: usize = 128;

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn bom() -> ReadError {
    ReadError::Syntax {
        line: 1,
        column: 1,
        problem: "starts with a byte-order mark (BOM), which JSON does not allow".into(),
    }
}

/// Parses strict JSON, with the place and the problem as data. Whitespace-only text
/// counts as an empty object (there is nothing in it to lose).
pub fn parse_strict(text: &str) -> std::result::Result<Value, ReadError> {
    if text.starts_with('\u{feff}') {
        return Err(bom());
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
    fn comments_are_read_where_the_agent_accepts_them_and_nothing_looser() {
        let text = "{\n  // mine\n  \"a\": 1, /* two */ \"b\": [2] // end\n}\n";
        assert_eq!(
            parse(text, Dialect::Comments).unwrap(),
            serde_json::json!({"a": 1, "b": [2]})
        );
        assert!(parse(text, Dialect::Strict).is_err());
        for loose in ["{\"a\": 1,}", "{a: 1}", "{\"a\": 'x'}", "{\"a\": 0x1}"] {
            let err = parse(loose, Dialect::Comments).unwrap_err();
            assert!(
                matches!(err, ReadError::Syntax { line: 1, .. }),
                "{loose}: {err:?}"
            );
        }
        assert_eq!(
            parse("// nothing yet\n", Dialect::Comments).unwrap(),
            serde_json::json!({})
        );
        let err = parse("{\n\"a\": 1,\n}", Dialect::Comments).unwrap_err();
        assert_eq!(err.position(), Some((2, 7)), "the comma: {err:?}");
    }

    #[test]
    fn deep_nesting_is_not_called_invalid() {
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(200), "]".repeat(200));
        let err = parse_strict(&deep).unwrap_err();
        assert!(matches!(err, ReadError::TooDeep { .. }), "{err:?}");
        assert!(!err.problem().contains("not valid"));
    }
}
