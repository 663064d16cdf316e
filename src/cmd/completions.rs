//! `telemhq completions SHELL` and `telemhq man`: what shells and `man` read, made from
//! the same definitions as `--help`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{Error, Result};

pub fn completions(args: &CompletionsArgs) -> Result<i32> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "telemhq", &mut out);
    crate::outln!("{}", String::from_utf8_lossy(&out).trim_end());
    Ok(0)
}

pub fn man() -> Result<i32> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Error::new(format!("cannot render the manual page: {e}")))?;
    crate::outln!("{}", String::from_utf8_lossy(&out));
    Ok(0)
}
