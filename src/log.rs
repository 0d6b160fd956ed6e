//! Messages on stderr for people or, with `--log-format json`, one JSON
//! object per line for journald and log shippers: snapaudit's own errors,
//! warnings and notices, always; and with `-v` or RUST_LOG, the `tracing`
//! diagnostics of snapaudit and the SDKs (requests, retries, throttling) in
//! the same format.

use std::sync::OnceLock;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `error: ...`, `warning: ...`
    #[default]
    Text,
    /// `{"time": ..., "level": ..., "message": ...}`
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

#[derive(Debug, Clone, Copy)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

pub fn line(level: Level, message: &str) -> String {
    match FORMAT.get().copied().unwrap_or_default() {
        LogFormat::Text => match level {
            Level::Notice => message.to_owned(),
            _ => format!("{}: {message}", level.as_str()),
        },
        LogFormat::Json => serde_json::json!({
            "time": jiff::Timestamp::now().round(jiff::Unit::Millisecond).map(|t| t.to_string()).unwrap_or_default(),
            "level": level.as_str(),
            "message": message,
            "program": "snapaudit",
        })
        .to_string(),
    }
}

/// What `-v` shows: our retries and the SDKs' request attempts and retry
/// decisions; `-vv` shows every event.
const VERBOSE: &str = "snapaudit=debug,aws_smithy_runtime::client::retries=debug,aws_smithy_runtime::client::orchestrator=debug,aws_config=info,azure_core=info,azure_identity=info";

/// Install the `tracing` subscriber when diagnostics are asked for, with
/// RUST_LOG's `target=level` directives winning over `-v`.
pub fn diagnostics(verbose: u8, format: LogFormat) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let asked = std::env::var("RUST_LOG").ok().filter(|d| !d.trim().is_empty());
    let targets: Targets = match (&asked, verbose) {
        (Some(directives), _) => directives.parse().unwrap_or_else(|e| {
            warning(&format!("RUST_LOG={directives:?} is not a list of target=level directives ({e}); using -v"));
            VERBOSE.parse().unwrap_or_default()
        }),
        (None, 0) => return,
        (None, 1) => VERBOSE.parse().unwrap_or_default(),
        (None, _) => Targets::new().with_default(LevelFilter::TRACE),
    };
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
            tracing_subscriber::registry().with(stderr.with_ansi(ansi).with_filter(targets)).try_init()
        }
        LogFormat::Json => tracing_subscriber::registry().with(stderr.json().with_filter(targets)).try_init(),
    };
    if let Err(e) = result {
        warning(&format!("diagnostics unavailable: {e}"));
    }
}

pub fn error(message: &str) {
    eprintln!("{}", line(Level::Error, message));
}

pub fn warning(message: &str) {
    eprintln!("{}", line(Level::Warning, message));
}

pub fn notice(message: &str) {
    eprintln!("{}", line(Level::Notice, message));
}
