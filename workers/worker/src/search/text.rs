//! Turning stored values into the text TestPlanIt indexes: TipTap (ProseMirror) JSON to plain
//! text, JavaScript's `String(x)` and number formatting, and dates as JavaScript prints them.

use serde_json::Value;

/// The text of a TipTap node as the web app extracts it: a string is its own text, a node
/// with `text` is that text, a node with `content` is its children's text joined with nothing
/// between them; anything else has none.
pub fn node_text(node: &Value) -> String {
    let mut out = String::new();
    push_node_text(node, &mut out);
    out
}

fn push_node_text(node: &Value, out: &mut String) {
    match node {
        Value::String(s) => out.push_str(s),
        Value::Object(o) => match (o.get("text"), o.get("content")) {
            (Some(Value::String(t)), _) if !t.is_empty() => out.push_str(t),
            (_, Some(Value::Array(children))) => {
                for c in children {
                    push_node_text(c, out);
                }
            }
            _ => {}
        },
        _ => {}
    }
}

/// A stored rich-text field that may hold the document itself or the document as a JSON
/// string: parsed when it is such a string (a string that is not JSON is its own text).
pub fn stored_text(v: &Value) -> String {
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(parsed) => node_text(&parsed),
            Err(_) => s.clone(),
        },
        Value::Null => String::new(),
        other => node_text(other),
    }
}

/// The text of a "Text Long" custom field: every text node followed by a space, trimmed
/// (the custom-field indexer's own walk, which differs from `node_text`).
pub fn spaced_text(doc: &Value) -> String {
    fn walk(n: &Value, out: &mut String) {
        if let Some(t) = n.get("text").and_then(Value::as_str)
            && !t.is_empty()
        {
            out.push_str(t);
            out.push(' ');
        }
        if let Some(Value::Array(c)) = n.get("content") {
            for child in c {
                walk(child, out);
            }
        }
    }
    let mut out = String::new();
    if let Some(Value::Array(c)) = doc.get("content") {
        for child in c {
            walk(child, &mut out);
        }
    }
    out.trim().to_string()
}

/// JavaScript's `String(x)` for a JSON value.
pub fn js_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// How JavaScript prints a number (ECMAScript's Number::toString, as ryu-js implements it):
/// `1e-7`, `1e+21`, `0.1`, integers without a fraction, `NaN`, `-Infinity`.
pub fn js_number(x: f64) -> String {
    ryu_js::Buffer::new().format(x).to_string()
}

/// JavaScript's truthiness of a JSON value (`Boolean(x)`).
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Milliseconds since the epoch as JavaScript's `toISOString()` prints them.
pub fn iso_millis(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// `new Date(value).toISOString()` for a stored date: ISO 8601 with or without a time and
/// offset (a bare date is midnight UTC, as JavaScript reads it), or milliseconds.
pub fn js_date(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_f64().and_then(|f| iso_millis(f as i64)),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
                return iso_millis(d.timestamp_millis());
            }
            // Jira writes its offsets without a colon (`2024-01-15T10:30:00.000+0000`).
            if let Ok(d) = chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
                return iso_millis(d.timestamp_millis());
            }
            if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return d
                    .and_hms_opt(0, 0, 0)
                    .and_then(|t| iso_millis(t.and_utc().timestamp_millis()));
            }
            // A date and time without an offset is local time in JavaScript; the workers
            // run in UTC, as TestPlanIt's containers do.
            for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
                if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
                    return iso_millis(t.and_utc().timestamp_millis());
                }
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"type": "doc", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Open the"}, {"type": "text", "text": " login page"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "Press enter"}]}
        ]})
    }

    #[test]
    fn tiptap_text_is_joined_without_separators() {
        assert_eq!(node_text(&doc()), "Open the login pagePress enter");
        assert_eq!(node_text(&json!("plain")), "plain");
        assert_eq!(node_text(&json!(5)), "");
        assert_eq!(node_text(&json!({"type": "doc"})), "");
    }

    #[test]
    fn a_document_stored_as_a_json_string_is_parsed_first() {
        let s = Value::String(doc().to_string());
        assert_eq!(stored_text(&s), "Open the login pagePress enter");
        assert_eq!(stored_text(&json!("not json")), "not json");
        assert_eq!(stored_text(&Value::Null), "");
    }

    #[test]
    fn long_text_fields_get_a_space_after_every_text_node() {
        assert_eq!(spaced_text(&doc()), "Open the  login page Press enter");
    }

    #[test]
    fn values_print_as_javascript_prints_them() {
        assert_eq!(js_string(&json!(5.0)), "5");
        assert_eq!(js_string(&json!(2.5)), "2.5");
        assert_eq!(js_string(&json!([1, "a", null])), "1,a,");
        assert_eq!(js_string(&json!({"a": 1})), "[object Object]");
        assert_eq!(js_string(&json!(true)), "true");
        assert_eq!(js_number(0.1 + 0.2), "0.30000000000000004");
        // Exponents where JavaScript uses them (Rust's Display writes 0.0000001 and 1e21 out).
        assert_eq!(js_number(0.0000001), "1e-7");
        assert_eq!(js_number(0.000001), "0.000001");
        assert_eq!(js_number(1e21), "1e+21");
        assert_eq!(js_number(123456789012345680000.0), "123456789012345680000");
        assert_eq!(js_number(-0.0), "0");
        assert_eq!(js_number(f64::NAN), "NaN");
        assert_eq!(js_number(f64::NEG_INFINITY), "-Infinity");
        assert!(!truthy(&json!(0)) && !truthy(&json!("")) && truthy(&json!([])));
    }

    #[test]
    fn dates_print_as_to_iso_string() {
        assert_eq!(
            js_date(&json!("2026-03-04")).as_deref(),
            Some("2026-03-04T00:00:00.000Z")
        );
        assert_eq!(
            js_date(&json!("2026-03-04T10:20:30+02:00")).as_deref(),
            Some("2026-03-04T08:20:30.000Z")
        );
        assert_eq!(
            js_date(&json!("2024-01-15T10:30:00.000-0800")).as_deref(),
            Some("2024-01-15T18:30:00.000Z")
        );
        assert_eq!(
            js_date(&json!("2024-01-15T10:30:00.123456Z")).as_deref(),
            Some("2024-01-15T10:30:00.123Z")
        );
        assert_eq!(js_date(&json!("soon")), None);
        assert_eq!(iso_millis(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
    }
}
