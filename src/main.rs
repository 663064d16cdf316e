#![forbid(unsafe_code)]
use clap::Parser;
use telemhq::{cli, cmd, env};

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "emit") {
        cmd::emit::outlive_the_agent();
        // The hook's hot path: its own few flags, without building every command.
        if let Some(emit) = cli::EmitArgs::from_hook_args(&args[2..]) {
            std::process::exit(cmd::emit::run(&emit, &env::Env::from_process()));
        }
    }
    // The status line runs after every turn too: no flags to read.
    if args.len() == 2 && args[1] == "statusline" {
        std::process::exit(cmd::statusline::run(&env::Env::from_process()));
    }
    let cli = cli::Cli::parse_from(args);
    let env = env::Env::from_process();
    let result = match cli.command {
        // The hook runtime never fails the agent, whatever happens (only --print can).
        cli::Command::Emit(args) => Ok(cmd::emit::run(&args, &env)),
        cli::Command::Send => {
            cmd::flush::run_detached(&env);
            Ok(0)
        }
        cli::Command::Install(args) => cmd::install::run(&args, &env),
        cli::Command::Uninstall(args) => cmd::uninstall::run(&args, &env),
        cli::Command::Flush(args) => cmd::flush::run(&args, &env),
        cli::Command::Run(args) => cmd::run::run(&args, &env),
        cli::Command::Log(args) => cmd::log::run(&args, &env),
        cli::Command::Doctor(args) => cmd::doctor::run(&args, &env),
        cli::Command::Prices(args) => cmd::prices::run(&args, &env),
        cli::Command::Import(args) => cmd::import::run(&args, &env),
        cli::Command::Report(args) => cmd::report::run(&args, &env),
        cli::Command::Budget(args) => cmd::budget::run(&args, &env),
        cli::Command::Statusline => Ok(cmd::statusline::run(&env)),
        cli::Command::Completions(args) => cmd::completions::completions(&args),
        cli::Command::Man => cmd::completions::man(),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("telemhq: error: {err}");
            std::process::exit(err.code);
        }
    }
}
