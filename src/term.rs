//! The terminal: whether one is there, and asking on it. Never asks without one.

use std::io::IsTerminal;

use crate::error::{Error, Result};

/// True when both stdin and stderr are terminals: only then is anyone there to answer.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

pub fn confirm(prompt: &str) -> Result<bool> {
    dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(true)
        .interact()
        .map_err(|e| Error::new(format!("cannot read your answer: {e}")))
}

pub fn select(prompt: &str, items: &[&str]) -> Result<usize> {
    dialoguer::Select::new()
        .with_prompt(prompt)
        .items(items)
        .default(0)
        .interact()
        .map_err(|e| Error::new(format!("cannot read your answer: {e}")))
}

/// Asks for a secret without echoing it. An empty answer is None.
pub fn secret(prompt: &str) -> Result<Option<String>> {
    let answer = dialoguer::Password::new()
        .with_prompt(prompt)
        .allow_empty_password(true)
        .interact()
        .map_err(|e| Error::new(format!("cannot read your answer: {e}")))?;
    Ok(Some(answer.trim().to_string()).filter(|a| !a.is_empty()))
}

/// Whether output to stdout may use colour.
pub fn colour_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints to stdout. A reader that went away (`telemhq log | head -1`) ends the program
/// quietly, as a Unix tool does, instead of a panic.
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Prints one line to stdout (see `print`).
pub fn print_line(text: &str) {
    print(&format!("{text}\n"));
}

/// `println!` for commands: see `print_line`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::term::print_line(&format!($($arg)*))
    };
}

/// `print!` for commands: see `print`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::term::print(&format!($($arg)*))
    };
}

/// A name from outside (a folder, a file) made safe to print: control characters (a
/// line break, an escape sequence) are shown escaped, so that a folder's name can never
/// forge a line of telemhq's output.
pub fn safe(text: &str) -> String {
    if !text.chars().any(unsafe_char) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A character a terminal acts on rather than shows: a control character, or one that
/// reorders or hides text (bidirectional overrides and isolates, zero-width marks).
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A path for messages (see `safe`).
pub fn path(p: &std::path::Path) -> String {
    safe(&p.display().to_string())
}

/// Whether a progress bar may be drawn: stderr is a terminal.
pub fn progress_on_stderr() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_in_names_are_escaped() {
        assert_eq!(
            super::safe("/tmp/a\n  ✓ All good\x1b[0m"),
            "/tmp/a\\n  ✓ All good\\u{1b}[0m"
        );
        assert_eq!(super::safe("/home/zoë/proj"), "/home/zoë/proj");
    }
}
