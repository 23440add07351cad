//! Configuration errors that point at the file, line, column, app and key, and say what is valid.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

/// One problem found in an ecosystem file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line and column of the offending text.
    pub line: usize,
    pub col: usize,
    /// The app the problem is in, when it is inside an `[[apps]]` table.
    pub app: Option<String>,
    /// The key the problem is about.
    pub key: Option<String>,
    /// What is wrong and what would be valid.
    pub message: String,
}

/// Why an ecosystem file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read ecosystem file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render(path, diagnostics))]
    Invalid {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
}

fn render(path: &std::path::Path, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}:{}:{}: {d}", path.display(), d.line, d.col));
    }
    out
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.app, &self.key) {
            (Some(app), Some(key)) => write!(f, "app \"{app}\", key `{key}`: {}", self.message),
            (Some(app), None) => write!(f, "app \"{app}\": {}", self.message),
            (None, Some(key)) => write!(f, "key `{key}`: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Maps byte offsets of one source text to line/column and to the app and key they fall in.
pub struct Locator<'a> {
    source: &'a str,
    doc: Option<toml::Spanned<DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    pub fn new(source: &'a str) -> Self {
        Locator {
            source,
            doc: DeTable::parse(source).ok(),
        }
    }

    /// A diagnostic at `span` with the app and key found from the document structure.
    pub fn diagnostic(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let (line, col) = self.line_col(span.start);
        let (app, key) = self.attribute(&span);
        Diagnostic {
            line,
            col,
            app,
            key,
            message: message.into(),
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, col)
    }

    /// Finds which `[[apps]]` entry (by its name) and which key a span belongs to.
    fn attribute(&self, span: &Range<usize>) -> (Option<String>, Option<String>) {
        let Some(doc) = &self.doc else {
            return (None, None);
        };
        let inside = |r: Range<usize>| r.start <= span.start && span.start < r.end.max(r.start + 1);
        for (top_key, top_value) in doc.get_ref() {
            match (top_key.get_ref().as_ref(), top_value.get_ref()) {
                ("apps", DeValue::Array(apps)) => {
                    for app in apps {
                        let DeValue::Table(table) = app.get_ref() else {
                            continue;
                        };
                        let key = key_in(table, &inside);
                        let app_name = table.iter().find_map(|(k, v)| {
                            match (k.get_ref().as_ref(), v.get_ref()) {
                                ("name", DeValue::String(s)) => Some(s.to_string()),
                                _ => None,
                            }
                        });
                        if key.is_some() || inside(app.span()) {
                            return (app_name, key);
                        }
                    }
                }
                ("defaults", DeValue::Table(table)) => {
                    if let Some(key) = key_in(table, &inside) {
                        return (None, Some(format!("defaults.{key}")));
                    }
                }
                (name, _) if inside(top_key.span()) || inside(top_value.span()) => {
                    return (None, Some(name.to_string()));
                }
                _ => {}
            }
        }
        (None, None)
    }
}

fn key_in(table: &DeTable<'_>, inside: &impl Fn(Range<usize>) -> bool) -> Option<String> {
    table
        .iter()
        .find(|(k, v)| inside(k.span()) || inside(v.span()))
        .map(|(k, _)| k.get_ref().to_string())
}
