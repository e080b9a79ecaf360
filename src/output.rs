//! What every printing command shares, as kubectl does it: `-o/--output` is the format (the human
//! default, `json`, `yaml`); under `json` or `yaml` an error is a document on stdout too
//! (`{"error": {"reason": "...", "message": "..."}}`); and one set of exit codes.

use clap::ValueEnum;
use serde::Serialize;

/// Exit code: done, and everything is as asked.
pub const EXIT_OK: u8 = 0;
/// Exit code: done, and the answer is "no": a broker waits or drifts, a check failed, a pod was
/// denied, `--strict` found a warning.
pub const EXIT_NOT_READY: u8 = 1;
/// Exit code: the command could not do its job (bad input or flags, no cluster, not found).
pub const EXIT_ERROR: u8 = 2;

/// `-o/--output` of every command that prints objects or results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people: a report, a table or the command's own document.
    #[default]
    Text,
    Json,
    Yaml,
}

/// A command that did its job: what to print on stdout, its exit code, and a line for stderr.
#[derive(Debug, Default)]
pub struct Ended {
    pub out: String,
    pub code: u8,
    pub note: Option<String>,
}

impl Ended {
    pub fn ok(out: String) -> Self {
        Ended { out, code: EXIT_OK, note: None }
    }

    /// Printed, and the answer is "no" (exit code 1), with why on stderr.
    pub fn not_ready(out: String, why: String) -> Self {
        Ended { out, code: EXIT_NOT_READY, note: Some(why) }
    }
}

/// A command that could not do its job, or (exit code 1) whose answer is "no" with nothing else
/// to print: a machine-readable reason and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u8,
    pub reason: &'static str,
    pub message: String,
}

impl Failure {
    pub fn error(reason: &'static str, message: impl Into<String>) -> Self {
        Failure { code: EXIT_ERROR, reason, message: message.into() }
    }

    pub fn no(reason: &'static str, message: impl Into<String>) -> Self {
        Failure { code: EXIT_NOT_READY, reason, message: message.into() }
    }
}

/// `value` as a JSON or YAML document (`Text` gets JSON: callers print text their own way).
pub fn document<T: Serialize>(format: Format, value: &T) -> String {
    match format {
        Format::Yaml => serde_saphyr::to_string(value).unwrap_or_default(),
        Format::Json | Format::Text => format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default()),
    }
}

/// The error document printed on stdout under `-o json|yaml`; `None` for text (stderr only).
pub fn error_document(format: Format, failure: &Failure) -> Option<String> {
    let v = serde_json::json!({"error": {"reason": failure.reason, "message": failure.message}});
    (format != Format::Text).then(|| document(format, &v))
}

/// A deprecated spelling still accepted for one release, said on stderr.
pub fn deprecated(old: &str, new: &str) {
    eprintln!("warning: {old} is deprecated and will be removed in the next minor release; use {new}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_documents_only_when_asked() {
        let f = Failure::error("InvalidInput", "broken: line 3");
        assert_eq!(error_document(Format::Text, &f), None);
        let json: serde_json::Value = serde_json::from_str(&error_document(Format::Json, &f).unwrap()).unwrap();
        assert_eq!(json["error"]["reason"], "InvalidInput");
        assert_eq!(json["error"]["message"], "broken: line 3");
        let yaml: serde_json::Value = serde_saphyr::from_str(&error_document(Format::Yaml, &f).unwrap()).unwrap();
        assert_eq!(yaml, json);
        assert_eq!((f.code, Failure::no("Denied", "x").code), (EXIT_ERROR, EXIT_NOT_READY));
    }
}
