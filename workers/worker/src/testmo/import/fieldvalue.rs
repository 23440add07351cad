//! A Testmo custom field value (a `custom_<name>` column of a case, or the value ids of a
//! multi-select) as the JSON TestPlanIt stores in `"CaseFieldValues".value`, by the field's
//! type (Node's `normalizeCaseFieldValue`): long text as a TipTap document's JSON text, plain
//! strings, integers, numbers, booleans, dropdown option ids (Testmo value ids resolved to
//! option names, then to the field's options), lists of option ids, ISO dates.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::tiptap::Converter;
use super::values::{date, number_f};

/// A case field with its type and options.
pub struct Field {
    pub id: i32,
    pub system_name: String,
    pub display_name: String,
    pub kind: String,
    pub option_ids: HashSet<i32>,
    pub options_by_name: HashMap<String, i32>,
}

impl Field {
    pub fn is_multi_select(&self) -> bool {
        self.kind
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-")
            == "multi-select"
    }

    fn option(&self, v: &Value) -> Option<i32> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .filter(|i| self.option_ids.contains(i)),
            Value::String(s) => {
                let t = s.trim();
                if t.is_empty() {
                    return None;
                }
                if let Ok(n) = t.parse::<i32>()
                    && self.option_ids.contains(&n)
                {
                    return Some(n);
                }
                self.options_by_name.get(&t.to_lowercase()).copied()
            }
            _ => None,
        }
    }
}

/// What was stored, or why nothing was.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Value(Value),
    /// Nothing to store (blank, empty, or a steps field, which has its own dataset).
    Nothing,
    /// A value that names no option of the field: logged, not stored.
    Unrecognized(String),
}

fn split_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Vec::new();
            }
            if let Ok(Value::Array(a)) = serde_json::from_str::<Value>(t) {
                return a;
            }
            t.split([';', ',', '|'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| json!(s))
                .collect()
        }
        other => vec![other.clone()],
    }
}

/// `values` resolves Testmo field value ids (`field_values.id` → its name).
pub fn normalize(
    raw: &Value,
    field: &Field,
    values: &HashMap<i32, (i32, String)>,
    tiptap: &mut Converter,
) -> Outcome {
    if raw.is_null() {
        return Outcome::Nothing;
    }
    let kind = field.kind.to_lowercase();
    let out = if kind.contains("text long") || kind.contains("text (long)") {
        // The web app keeps long text as the document's JSON in a JSON string.
        tiptap
            .convert(Some(raw))
            .map(|d| Value::String(d.to_string()))
    } else if kind.contains("text string") || kind == "string" || kind == "link" {
        Some(Value::String(match raw {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }))
    } else if kind == "integer" {
        number_f(raw).map(|f| json!(f.trunc() as i64))
    } else if kind == "number" {
        number_f(raw).map(|f| json!(f))
    } else if kind == "checkbox" {
        Some(json!(match raw {
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => matches!(
                s.trim().to_lowercase().as_str(),
                "1" | "true" | "yes" | "y" | "on"
            ),
            _ => true,
        }))
    } else if kind == "dropdown" {
        let resolved = match raw {
            Value::Number(n) => n
                .as_i64()
                .and_then(|i| values.get(&(i as i32)))
                .map(|(_, name)| json!(name)),
            _ => None,
        };
        let candidate = resolved.unwrap_or_else(|| raw.clone());
        match field.option(&candidate) {
            Some(o) => Some(json!(o)),
            None if candidate.as_str().is_some_and(|s| s.trim().is_empty()) => None,
            None => return Outcome::Unrecognized(candidate.to_string()),
        }
    } else if field.is_multi_select() {
        let mut ids: Vec<i32> = Vec::new();
        for entry in split_list(raw) {
            let named = match &entry {
                Value::Number(n) => n
                    .as_i64()
                    .and_then(|i| values.get(&(i as i32)))
                    .map(|(_, name)| json!(name)),
                _ => None,
            };
            if let Some(o) = field.option(named.as_ref().unwrap_or(&entry))
                && !ids.contains(&o)
            {
                ids.push(o);
            }
        }
        (!ids.is_empty()).then(|| json!(ids))
    } else if kind == "date" {
        date(raw).map(|d| json!(d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
    } else if kind == "steps" {
        None
    } else {
        Some(raw.clone())
    };
    match out {
        Some(Value::String(s)) if s.trim().is_empty() => Outcome::Nothing,
        Some(Value::Array(a)) if a.is_empty() => Outcome::Nothing,
        Some(v) => Outcome::Value(v),
        None => Outcome::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: &str) -> Field {
        Field {
            id: 1,
            system_name: "f".into(),
            display_name: "F".into(),
            kind: kind.into(),
            option_ids: [10, 11].into(),
            options_by_name: [("high".to_string(), 10), ("low".to_string(), 11)].into(),
        }
    }

    #[test]
    fn values_by_type() {
        let values: HashMap<i32, (i32, String)> = [(501, (7, "Low".to_string()))].into();
        let mut t = Converter::default();
        let mut n = |raw: Value, kind: &str| normalize(&raw, &field(kind), &values, &mut t);
        assert_eq!(n(json!("4.7"), "Integer"), Outcome::Value(json!(4)));
        assert_eq!(n(json!("x"), "Number"), Outcome::Nothing);
        assert_eq!(n(json!("yes"), "Checkbox"), Outcome::Value(json!(true)));
        assert_eq!(n(json!(501), "Dropdown"), Outcome::Value(json!(11)));
        assert_eq!(n(json!("HIGH"), "Dropdown"), Outcome::Value(json!(10)));
        assert_eq!(
            n(json!("medium"), "Dropdown"),
            Outcome::Unrecognized("\"medium\"".into())
        );
        assert_eq!(
            n(json!([501, "high", 501]), "Multi-Select"),
            Outcome::Value(json!([11, 10]))
        );
        assert_eq!(
            n(json!("low; high"), "Multi Select"),
            Outcome::Value(json!([11, 10]))
        );
        assert_eq!(
            n(json!("2024-05-01 10:00:00"), "Date"),
            Outcome::Value(json!("2024-05-01T10:00:00.000Z"))
        );
        assert_eq!(n(json!("  "), "Text String"), Outcome::Nothing);
        assert_eq!(n(json!(12), "Text String"), Outcome::Value(json!("12")));
        let long = n(json!("<p>Hi</p>"), "Text Long");
        let Outcome::Value(Value::String(s)) = long else {
            panic!("{long:?}")
        };
        assert_eq!(
            serde_json::from_str::<Value>(&s).unwrap()["content"][0]["content"][0]["text"],
            "Hi"
        );
        assert_eq!(n(json!("a"), "Steps"), Outcome::Nothing);
    }
}
