//! Errors of the report stage: every one names the file it concerns.

use std::fmt;
use std::path::{Path, PathBuf};

/// A report error.
#[derive(Debug)]
pub enum ReportError {
    /// Reading, writing or listing a file failed.
    Io {
        /// What was being done (`reading`, `writing`, …).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A table or the manifest does not have the expected content.
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Result of the report stage.
pub type Result<T> = std::result::Result<T, ReportError>;

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            ReportError::Format { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReportError::Io { source, .. } => Some(source),
            ReportError::Format { .. } => None,
        }
    }
}

/// Maps an I/O error to a `ReportError` naming `path`.
pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ReportError {
    let path = path.to_path_buf();
    move |source| ReportError::Io {
        action,
        path,
        source,
    }
}

/// A format error about `path`.
pub(crate) fn format(path: &Path, message: impl fmt::Display) -> ReportError {
    ReportError::Format {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}
