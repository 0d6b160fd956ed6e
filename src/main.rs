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
        Err(e) => {
            snapaudit::log::error(&format!("{e:#}"));
            ExitCode::from(exit::ERROR)
        }
    }
}
