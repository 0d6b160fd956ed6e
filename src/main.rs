//! Entry point: parse arguments, run, map the result to a documented exit code.

use std::process::ExitCode;

use clap::Parser;
use snapaudit::app::{self, exit};
use snapaudit::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    snapaudit::log::set_format(cli.log_format);
    snapaudit::log::diagnostics(cli.verbose, cli.log_format);
    match app::run(cli) {
        Ok(code) => ExitCode::from(code),
        // A reader that stopped early (`| head -1`) is no error: what was
        // asked for was delivered, and a scan is saved before it is printed.
        Err(e) if closed_pipe(&e) => ExitCode::from(exit::OK),
        Err(e) => {
            snapaudit::log::error(&format!("{e:#}"));
            ExitCode::from(exit::ERROR)
        }
    }
}

/// The error is stdout's reader gone (EPIPE: Rust ignores SIGPIPE).
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
