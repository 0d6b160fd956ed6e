//! Messages on stderr for people or, with `--log-format json`, one JSON
//! object per line for journald and log shippers. The few events snapaudit
//! reports (errors, warnings, notices) need no logging framework.

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

pub fn error(message: &str) {
    eprintln!("{}", line(Level::Error, message));
}

pub fn warning(message: &str) {
    eprintln!("{}", line(Level::Warning, message));
}

pub fn notice(message: &str) {
    eprintln!("{}", line(Level::Notice, message));
}
