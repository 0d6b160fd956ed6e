//! Report files: `--output PATH` or `--output FORMAT=PATH`, written whole or
//! not at all (a temporary file in the same folder, then a rename), owner-only.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Format;

/// One `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    pub path: PathBuf,
}

impl std::str::FromStr for Output {
    type Err = String;

    /// `csv=report.csv`, or a path whose extension names the format.
    fn from_str(s: &str) -> Result<Self, String> {
        use clap::ValueEnum;
        if let Some((name, path)) = s.split_once('=')
            && let Ok(format) = Format::from_str(name, true)
        {
            if path.is_empty() {
                return Err(format!("{s:?}: no path after `{name}=`"));
            }
            return Ok(Output { format, path: PathBuf::from(path) });
        }
        let path = PathBuf::from(s);
        match Format::from_extension(&path) {
            Some(format) => Ok(Output { format, path }),
            None => Err(format!(
                "{s:?}: say the format, e.g. html={s}, or use an extension (.html, .csv, .jsonl, .ocsf.json, .txt)"
            )),
        }
    }
}

/// Write `path` through `fill`: readers see the old file or the whole new
/// one, never a part. The file is created readable by its owner only.
pub fn write_atomically(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("report");
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
        let mut writer = BufWriter::new(file);
        fill(&mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn outputs_name_their_format_or_take_it_from_the_extension() {
        let o: Output = "csv=out/findings.txt".parse().unwrap();
        assert_eq!((o.format, o.path), (Format::Csv, PathBuf::from("out/findings.txt")));
        assert_eq!("r.html".parse::<Output>().unwrap().format, Format::Html);
        assert_eq!("r.ocsf.json".parse::<Output>().unwrap().format, Format::Ocsf);
        assert_eq!("r.jsonl".parse::<Output>().unwrap().format, Format::Jsonl);
        assert!("report".parse::<Output>().unwrap_err().contains("html=report"));
        assert!("csv=".parse::<Output>().is_err());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = std::env::temp_dir().join(format!("snapaudit-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.csv");
        write_atomically(&path, |w| w.write_all(b"old")).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let failed = write_atomically(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
