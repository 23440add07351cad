//! tpctl: parse the command line, set up diagnostics, dispatch, map errors to exit codes.

mod cli;
mod client;
mod commands;
mod config;
mod home;
mod keeper;
mod persist;
mod policy;
mod proto;
mod render;
mod spec;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use commands::{CommandError, Ctx, Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Keeper { dir, foreground } = cli.command {
        let code = match (dir, foreground) {
            (Some(dir), None) => keeper::launch::background(dir),
            (None, Some(prefix)) => keeper::launch::foreground(prefix),
            _ => {
                eprintln!("tpctl keeper: give --dir DIR or --foreground PREFIX");
                2
            }
        };
        return ExitCode::from(code as u8);
    }
    init_tracing();
    match dispatch(cli.command) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TPCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

fn dispatch(command: Command) -> Result<Outcome, CommandError> {
    let ctx = Ctx::from_env()?;
    match command {
        Command::Start(t) => commands::start::start(&ctx, &t.targets),
        Command::Restart(t) => commands::start::restart(&ctx, &t.targets),
        Command::Stop(t) => commands::stop::stop(&ctx, &t.targets),
        Command::Delete(t) => commands::stop::delete(&ctx, &t.targets),
        Command::Kill => commands::stop::kill(&ctx),
        Command::Status(o) => commands::status::status(&ctx, o.json),
        Command::Describe { name, output } => {
            commands::describe::describe(&ctx, &name, output.json)
        }
        Command::Run(t) => commands::run::run(&ctx, &t.targets),
        Command::Keeper { .. } => unreachable!("handled before dispatch"),
    }
}
