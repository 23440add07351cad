//! tpctl: parse the command line, set up diagnostics, dispatch, map errors to exit codes.

mod alerts;
mod cli;
mod client;
mod commands;
mod config;
mod doctor;
mod dump;
mod fit;
mod home;
mod import;
mod keeper;
mod leftovers;
mod logtimes;
mod monit;
mod persist;
mod pm2_verbs;
mod policy;
mod program;
mod progress;
mod proto;
mod queues;
mod render;
mod say;
mod spec;
mod startup;
mod suggest;
mod web;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use commands::{CommandError, Ctx, Outcome};

fn main() -> ExitCode {
    // Keepers are many and long-lived: they skip clap (whose parse leaves heap pages behind) and
    // parse their two internal flags themselves.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "keeper") {
        return ExitCode::from(keeper::launch::from_args(&args[2..]) as u8);
    }
    if args.get(1).is_some_and(|a| a == "alert-sender")
        && let Some(dir) = args.get(2)
    {
        return ExitCode::from(alerts::send::main(dir.into()) as u8);
    }
    // A command piped into `head` should end quietly, as Unix tools do (Rust ignores SIGPIPE).
    // SAFETY: restoring the default disposition of SIGPIPE has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    commands::generate::complete_if_asked();
    let cli = match pm2_verbs::translate(&args) {
        Some(pm2_verbs::Pm2Verb::Run(translated)) => Cli::parse_from(translated),
        Some(pm2_verbs::Pm2Verb::Answer(text)) => {
            eprintln!("{text}");
            return ExitCode::from(2);
        }
        None => Cli::parse(),
    };
    init_tracing();
    say::set_quiet(cli.quiet);
    match dispatch(cli.command, cli.quiet) {
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

fn dispatch(command: Command, quiet: bool) -> Result<Outcome, CommandError> {
    let ctx = Ctx::from_env(quiet)?;
    match command {
        Command::Start(t) => commands::start::start(&ctx, &t),
        Command::Restart(t) => commands::start::restart(&ctx, &t),
        Command::Reload(t) => commands::start::reload(&ctx, &t),
        Command::Stop(t) => commands::stop::stop(&ctx, &t),
        Command::Delete(t) => commands::stop::delete(&ctx, &t),
        Command::Kill => commands::stop::kill(&ctx),
        Command::Alerts {
            what: cli::AlertsCommand::Test { file },
        } => commands::alerts::test(&ctx, file),
        Command::Init { path, force } => commands::init::init(path, force),
        Command::StartOrRestart(t) => commands::start::start_or_restart(&ctx, &t),
        Command::StartOrReload(t) => commands::start::start_or_reload(&ctx, &t),
        Command::Status(a) => commands::status::status(&ctx, &a),
        Command::Describe { name, output, all } => {
            commands::describe::describe(&ctx, &name, output.json, all)
        }
        Command::Run(a) => commands::run::run(&ctx, &a),
        Command::Logs(a) => commands::logs::logs(&ctx, &a),
        Command::Flush(t) => commands::logs::flush(&ctx, &t),
        Command::ReloadLogs => commands::logs::reload(&ctx),
        Command::Save { force } => commands::save::save(&ctx, force),
        Command::Resurrect { update_env } => commands::save::resurrect(&ctx, update_env),
        Command::Generate {
            what: cli::Generate::Completions { shell },
        } => commands::generate::print_completions(shell),
        Command::Generate {
            what: cli::Generate::Man { dir },
        } => commands::generate::write_man(&dir),
        Command::Doctor {
            file,
            web_connections,
            output,
        } => commands::doctor(&ctx, file, web_connections, output.json),
        Command::Import {
            what:
                cli::Import::Pm2 {
                    file,
                    output,
                    force,
                    env,
                },
        } => commands::import::pm2(&file, output, force, &env),
        Command::Import {
            what:
                cli::Import::Pm2Dump {
                    path,
                    output,
                    force,
                },
        } => commands::import::pm2_dump(path, output, force),
        Command::Monit { interval } => monit::run(&ctx, interval),
        Command::Web {
            listen,
            token_file,
            allow_hosts,
        } => web::run(
            &ctx,
            web::Options {
                listen,
                token_file,
                allow_hosts,
            },
        ),
        Command::Queues { watch, output } => commands::queues::list(&ctx, output.json, watch),
        Command::Queue { name, action, yes } => commands::queues::act(&ctx, &name, &action, yes),
        Command::Startup(a) => commands::startup::startup(&ctx, &a),
        Command::Unstartup(a) => commands::startup::unstartup(&ctx, &a),
    }
}
