//! A Testmo export read as a stream (spec §9.2): one JSON object whose datasets are its
//! top-level keys, or the keys of a `datasets`/`entities` container; each dataset an object
//! with an optional schema (`schema`, `columns` or `fields`) and rows (`data`, `rows`,
//! `records` or `items`). A top-level `fields` is the custom-field dataset; `meta` and
//! `summary` are not datasets. Rows are read one at a time into a JSON value and handed to a
//! [`Sink`]; nothing else of the document is held, whatever its size.
//!
//! Unlike TestPlanIt's analyzer, an object nested in a row does not become a phantom dataset,
//! and shapes it silently read as nothing (the root a list, `datasets` a list) are errors.

use std::io::Read;

use serde_json::Value;
use struson::reader::{JsonReader, JsonStreamReader, ReaderError, ValueType};

const CONTAINERS: [&str; 2] = ["datasets", "entities"];
const IGNORED: [&str; 2] = ["meta", "summary"];
const SCHEMA_KEYS: [&str; 3] = ["schema", "columns", "fields"];
const DATA_KEYS: [&str; 4] = ["data", "rows", "records", "items"];

/// Datasets whose rows are counted but never parsed, staged or sampled.
pub fn is_attachment(dataset: &str) -> bool {
    dataset.to_ascii_lowercase().contains("attachment")
}

/// Where the scan's findings go. An `Err` stops the scan (the consumer gave up).
pub trait Sink {
    fn dataset(&mut self, name: &str) -> Result<(), Stopped>;
    fn schema(&mut self, dataset: &str, schema: Value) -> Result<(), Stopped>;
    /// Row `index` (0-based per dataset); `None` for an attachment dataset's row.
    fn row(&mut self, dataset: &str, index: u64, row: Option<Value>) -> Result<(), Stopped>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("the export is not valid JSON at byte {offset}: {message}")]
    Syntax { offset: u64, message: String },
    #[error(
        "the export ends at byte {offset} in the middle of its JSON: the file is truncated (an incomplete upload?)"
    )]
    Truncated { offset: u64 },
    #[error("{0}")]
    Shape(String),
    #[error("reading the export failed: {0}")]
    Io(String),
    #[error("stopped")]
    Stopped,
}

fn offset(e: &ReaderError) -> u64 {
    let pos = match e {
        ReaderError::SyntaxError(s) => &s.location,
        ReaderError::UnexpectedValueType { location, .. }
        | ReaderError::UnexpectedStructure { location, .. }
        | ReaderError::MaxNestingDepthExceeded { location, .. }
        | ReaderError::UnsupportedNumberValue { location, .. }
        | ReaderError::IoError { location, .. } => location,
        _ => return 0,
    };
    pos.data_pos.unwrap_or(0)
}

impl From<ReaderError> for ScanError {
    fn from(e: ReaderError) -> Self {
        let at = offset(&e);
        match e {
            ReaderError::SyntaxError(s)
                if s.kind == struson::reader::SyntaxErrorKind::IncompleteDocument =>
            {
                ScanError::Truncated { offset: at }
            }
            ReaderError::SyntaxError(s) => ScanError::Syntax {
                offset: at,
                message: words(&format!("{:?}", s.kind)),
            },
            ReaderError::IoError { error, .. }
                if error.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                ScanError::Truncated { offset: at }
            }
            ReaderError::IoError { error, .. } => ScanError::Io(error.to_string()),
            other => ScanError::Syntax {
                offset: at,
                message: other.to_string(),
            },
        }
    }
}

/// `ExpectingMemberNameOrObjectEnd` as `expecting member name or object end`.
fn words(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl From<struson::serde::DeserializerError> for ScanError {
    fn from(e: struson::serde::DeserializerError) -> Self {
        match e {
            struson::serde::DeserializerError::ReaderError(r) => r.into(),
            other => ScanError::Syntax {
                offset: 0,
                message: other.to_string(),
            },
        }
    }
}

impl From<Stopped> for ScanError {
    fn from(_: Stopped) -> Self {
        ScanError::Stopped
    }
}

fn kind(t: ValueType) -> &'static str {
    match t {
        ValueType::Array => "list",
        ValueType::Object => "object",
        ValueType::String => "string",
        ValueType::Number => "number",
        ValueType::Boolean => "boolean",
        ValueType::Null => "null",
    }
}

/// The input, noting how much was read and whether its end was reached: a syntax error at
/// the end of the input is a truncated file, whatever the parser calls it.
struct Watched<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<(u64, bool)>>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (total, _) = self.read.get();
        self.read.set((total + n as u64, n == 0 && !buf.is_empty()));
        Ok(n)
    }
}

/// Scans the whole export.
pub fn scan<R: Read>(input: R, sink: &mut dyn Sink) -> Result<(), ScanError> {
    let seen = std::rc::Rc::new(std::cell::Cell::new((0u64, false)));
    let watched = Watched {
        inner: input,
        read: seen.clone(),
    };
    match scan_all(watched, sink) {
        Err(ScanError::Syntax { .. }) if seen.get().1 => Err(ScanError::Truncated {
            offset: seen.get().0,
        }),
        other => other,
    }
}

fn scan_all<R: Read>(input: R, sink: &mut dyn Sink) -> Result<(), ScanError> {
    // No JSON path tracking: it costs an allocation per member, and errors are reported by
    // byte offset, which the reader keeps anyway.
    let settings = struson::reader::ReaderSettings {
        track_path: false,
        ..Default::default()
    };
    let mut r = JsonStreamReader::new_custom(input, settings);
    let top = r.peek()?;
    if top != ValueType::Object {
        return Err(ScanError::Shape(format!(
            "the export is a JSON {}, not the object of datasets a Testmo export is",
            kind(top)
        )));
    }
    r.begin_object()?;
    while r.has_next()? {
        let name = r.next_name_owned()?;
        let t = r.peek()?;
        if IGNORED.contains(&name.as_str()) {
            r.skip_value()?;
        } else if CONTAINERS.contains(&name.as_str()) && t == ValueType::Array {
            return Err(ScanError::Shape(format!(
                "\"{name}\" is a list; a Testmo export names its datasets as the keys of an object"
            )));
        } else if CONTAINERS.contains(&name.as_str()) && t == ValueType::Object {
            r.begin_object()?;
            while r.has_next()? {
                let inner = r.next_name_owned()?;
                if r.peek()? == ValueType::Object {
                    dataset(&mut r, &inner, sink)?;
                } else {
                    r.skip_value()?;
                }
            }
            r.end_object()?;
        } else if t == ValueType::Object {
            dataset(&mut r, &name, sink)?;
        } else {
            r.skip_value()?;
        }
    }
    r.end_object()?;
    r.consume_trailing_whitespace()?;
    Ok(())
}

fn dataset<R: Read>(
    r: &mut JsonStreamReader<R>,
    name: &str,
    sink: &mut dyn Sink,
) -> Result<(), ScanError> {
    sink.dataset(name)?;
    let attachments = is_attachment(name);
    let mut index = 0u64;
    r.begin_object()?;
    while r.has_next()? {
        let key = r.next_name_owned()?;
        let t = r.peek()?;
        if SCHEMA_KEYS.contains(&key.as_str()) && t == ValueType::Object {
            let schema: Value = r.deserialize_next()?;
            sink.schema(name, schema)?;
        } else if DATA_KEYS.contains(&key.as_str()) && t == ValueType::Array {
            r.begin_array()?;
            while r.has_next()? {
                if r.peek()? != ValueType::Object {
                    r.skip_value()?;
                    continue;
                }
                let row = if attachments {
                    r.skip_value()?;
                    None
                } else {
                    Some(r.deserialize_next::<Value>()?)
                };
                sink.row(name, index, row)?;
                index += 1;
            }
            r.end_array()?;
        } else {
            r.skip_value()?;
        }
    }
    r.end_object()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Default)]
    struct Seen(Vec<String>);

    impl Sink for Seen {
        fn dataset(&mut self, name: &str) -> Result<(), Stopped> {
            self.0.push(format!("dataset {name}"));
            Ok(())
        }
        fn schema(&mut self, d: &str, s: Value) -> Result<(), Stopped> {
            self.0.push(format!("schema {d} {s}"));
            Ok(())
        }
        fn row(&mut self, d: &str, i: u64, row: Option<Value>) -> Result<(), Stopped> {
            self.0.push(format!(
                "row {d} {i} {}",
                row.map_or("-".into(), |r| r.to_string())
            ));
            Ok(())
        }
    }

    fn seen(text: &str) -> Result<Vec<String>, ScanError> {
        let mut s = Seen::default();
        scan(text.as_bytes(), &mut s).map(|()| s.0)
    }

    #[test]
    fn top_level_datasets_with_every_schema_and_rows_key() {
        let doc = json!({
            "meta": {"version": 2, "data": [{"x": 1}]},
            "users": {"schema": {"id": "id", "name": "string"}, "data": [{"id": 1, "name": "Ada", "tags": [1, 2]}, {"id": 2, "name": "Bob"}]},
            "runs": {"columns": {"id": "id"}, "rows": [{"id": 9, "meta": {"nested": true}}]},
            "tags": {"records": [{"id": 3}], "count": 1},
            "states": {"items": [{"id": 4}, 5, {"id": 6}]},
            "fields": {"fields": {"id": "id"}, "data": [{"id": 7, "name": "Priority"}]},
            "summary": {"rows": 9},
            "version": 3
        });
        assert_eq!(
            seen(&doc.to_string()).expect("scans"),
            [
                "dataset users",
                r#"schema users {"id":"id","name":"string"}"#,
                r#"row users 0 {"id":1,"name":"Ada","tags":[1,2]}"#,
                r#"row users 1 {"id":2,"name":"Bob"}"#,
                "dataset runs",
                r#"schema runs {"id":"id"}"#,
                r#"row runs 0 {"id":9,"meta":{"nested":true}}"#,
                "dataset tags",
                r#"row tags 0 {"id":3}"#,
                "dataset states",
                r#"row states 0 {"id":4}"#,
                r#"row states 1 {"id":6}"#,
                "dataset fields",
                r#"schema fields {"id":"id"}"#,
                r#"row fields 0 {"id":7,"name":"Priority"}"#,
            ]
        );
    }

    #[test]
    fn datasets_under_a_container_and_attachments_counted_unread() {
        let doc = r#"{"entities": {"projects": {"data": [{"id": 1}]}, "run_attachments": {"data": [{"blob": "AAAA"}, {"blob": "BBBB"}]}, "n": 2},
                      "datasets": {"milestones": {"rows": []}}}"#;
        assert_eq!(
            seen(doc).expect("scans"),
            [
                "dataset projects",
                r#"row projects 0 {"id":1}"#,
                "dataset run_attachments",
                "row run_attachments 0 -",
                "row run_attachments 1 -",
                "dataset milestones",
            ]
        );
    }

    #[test]
    fn unknown_shapes_malformed_and_truncated_exports_are_named() {
        assert_eq!(
            seen("[1, 2]"),
            Err(ScanError::Shape(
                "the export is a JSON list, not the object of datasets a Testmo export is".into()
            ))
        );
        assert!(matches!(
            seen(r#"{"datasets": [{"name": "users", "rows": []}]}"#),
            Err(ScanError::Shape(m)) if m.contains("\"datasets\" is a list")
        ));
        let bad = seen(r#"{"users": {"data": [{"id": 1,, }]}}"#);
        assert_eq!(
            bad.map_err(|e| e.to_string()),
            Err(
                "the export is not valid JSON at byte 29: expecting member name or object end"
                    .into()
            )
        );
        assert_eq!(
            seen(r#"{"users": {"data": [{"id": 1}, {"id""#),
            Err(ScanError::Truncated { offset: 36 })
        );
        assert_eq!(seen("{}").expect("empty is fine"), Vec::<String>::new());
    }

    #[test]
    fn a_sink_that_gives_up_stops_the_scan() {
        struct Quit;
        impl Sink for Quit {
            fn dataset(&mut self, _: &str) -> Result<(), Stopped> {
                Ok(())
            }
            fn schema(&mut self, _: &str, _: Value) -> Result<(), Stopped> {
                Ok(())
            }
            fn row(&mut self, _: &str, _: u64, _: Option<Value>) -> Result<(), Stopped> {
                Err(Stopped)
            }
        }
        let r = scan(r#"{"users": {"data": [{"id": 1}]}}"#.as_bytes(), &mut Quit);
        assert_eq!(r, Err(ScanError::Stopped));
    }
}
