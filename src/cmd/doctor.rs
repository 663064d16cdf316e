use crate::cli::DoctorArgs;
use crate::env::Env;
use crate::error::{Error, Result};

pub fn run(_args: &DoctorArgs, _env: &Env) -> Result<i32> {
    Err(Error::new("doctor is not built yet"))
}
