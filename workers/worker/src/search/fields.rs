//! Custom field values as TestPlanIt indexes them: one nested `customFields` entry per value,
//! typed by the field's type (`valueNumeric`, `valueDate`, `fieldOption`, ...), and the words
//! each contributes to a document's `searchableContent`.

use serde_json::{Map, Value, json};

use super::text::{js_date, js_number, js_string, spaced_text, truthy};

/// One option of a select-type field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldOption {
    pub id: i32,
    pub name: String,
    pub icon: Option<String>,
    pub color: Option<String>,
}

impl FieldOption {
    fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), self.id.into());
        o.insert("name".into(), self.name.clone().into());
        if let Some(i) = &self.icon {
            o.insert("icon".into(), json!({ "name": i }));
        }
        if let Some(c) = &self.color {
            o.insert("iconColor".into(), json!({ "value": c }));
        }
        Value::Object(o)
    }
}

/// A field as a value refers to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub id: i32,
    pub display_name: String,
    pub system_name: String,
    /// `"CaseFieldTypes".type` ("Checkbox", "Multi-Select", ...).
    pub type_name: Option<String>,
    pub options: Vec<FieldOption>,
}

/// The `customFields` entry for one stored value, or `None` when the value indexes as empty
/// (the web app drops those).
pub fn entry(field: &Field, value: &Value) -> Option<Value> {
    let kind = field
        .type_name
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(&field.system_name);
    let mut o = Map::new();
    o.insert("fieldId".into(), field.id.into());
    o.insert("fieldName".into(), field.display_name.clone().into());
    o.insert("fieldType".into(), kind.into());
    let mut text: Option<String> = None;
    match kind {
        "Checkbox" => {
            o.insert("valueBoolean".into(), truthy(value).into());
            text = Some(js_string(value));
        }
        "Date" => {
            if truthy(value)
                && let Some(d) = js_date(value)
            {
                o.insert("valueDate".into(), d.clone().into());
                text = Some(d);
            }
        }
        "Number" => {
            let n = js_to_number(value);
            // JSON has no NaN: JavaScript's JSON.stringify writes null.
            o.insert(
                "valueNumeric".into(),
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
            );
            text = Some(js_string(value));
        }
        "Multi-Select" => {
            let list = match value {
                Value::Array(a) => Some(a.clone()),
                Value::String(s) if !s.is_empty() => match serde_json::from_str::<Value>(s) {
                    Ok(Value::Array(a)) => Some(a),
                    Ok(_) => None,
                    Err(_) => {
                        text = Some(s.clone());
                        None
                    }
                },
                other if truthy(other) => None,
                _ => None,
            };
            if let Some(a) = list {
                let strings: Vec<String> = a.iter().map(js_string).collect();
                text = Some(
                    a.iter()
                        .map(|x| match x {
                            Value::Null => String::new(),
                            v => js_string(v),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                o.insert("valueArray".into(), strings.into());
            }
        }
        "Select" | "Text String" | "Link" => {
            o.insert("valueKeyword".into(), js_string(value).into());
            text = Some(js_string(value));
        }
        "Text Long" => {
            if truthy(value) {
                let parsed = match value {
                    Value::String(s) => serde_json::from_str::<Value>(s).ok(),
                    other => Some(other.clone()),
                };
                text = Some(match parsed {
                    Some(doc) => spaced_text(&doc),
                    None => js_string(value),
                });
            }
        }
        "Steps" => {
            if truthy(value) {
                text = Some(js_string(value));
            }
        }
        _ => text = Some(js_string(value)),
    }
    if matches!(kind, "Select" | "Dropdown")
        && truthy(value)
        && let Some(id) = value.as_f64()
        && let Some(opt) = field.options.iter().find(|o| f64::from(o.id) == id)
    {
        o.insert("fieldOption".into(), opt.to_json());
    }
    if kind == "Multi-Select" {
        o.insert(
            "fieldOptions".into(),
            field.options.iter().map(FieldOption::to_json).collect(),
        );
    }
    let text = text.filter(|t| !t.is_empty())?;
    o.insert("value".into(), text.into());
    Some(Value::Object(o))
}

/// JavaScript's `Number(x)`.
fn js_to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                0.0
            } else {
                t.parse().unwrap_or(f64::NAN)
            }
        }
        Value::Array(a) if a.is_empty() => 0.0,
        Value::Array(a) if a.len() == 1 => js_to_number(&Value::String(js_string(&a[0]))),
        _ => f64::NAN,
    }
}

/// The words a document's custom fields add to its `searchableContent`: the chosen options'
/// names, a checked box's field name, the number, the text or link, the date.
pub fn searchable_text(entries: &[Value]) -> String {
    let s = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    entries
        .iter()
        .map(|e| match e["fieldType"].as_str().unwrap_or_default() {
            "Select" | "Dropdown" => e["fieldOption"]["name"].as_str().unwrap_or("").to_string(),
            "Multi-Select" => {
                let (Some(Value::Array(chosen)), Some(Value::Array(opts))) =
                    (e.get("valueArray"), e.get("fieldOptions"))
                else {
                    return String::new();
                };
                opts.iter()
                    .filter(|o| {
                        let id = o["id"].as_i64().map(|i| i.to_string());
                        chosen.iter().any(|c| c.as_str() == id.as_deref())
                    })
                    .filter_map(|o| o["name"].as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            "Checkbox" => {
                if e["valueBoolean"] == true {
                    s(e, "fieldName").unwrap_or_default()
                } else {
                    String::new()
                }
            }
            "Number" | "Integer" => e["valueNumeric"]
                .as_f64()
                .map(js_number)
                .unwrap_or_default(),
            "Text String" | "Text Long" | "Link" => s(e, "value")
                .filter(|v| !v.is_empty())
                .or_else(|| s(e, "valueKeyword"))
                .unwrap_or_default(),
            "Date" => s(e, "valueDate").unwrap_or_default(),
            _ => s(e, "value").unwrap_or_default(),
        })
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: &str, options: &[(i32, &str)]) -> Field {
        Field {
            id: 9,
            display_name: format!("My {kind}"),
            system_name: kind.to_lowercase(),
            type_name: Some(kind.to_string()),
            options: options
                .iter()
                .map(|(id, n)| FieldOption {
                    id: *id,
                    name: n.to_string(),
                    icon: Some("star".into()),
                    color: None,
                })
                .collect(),
        }
    }

    #[test]
    fn each_type_fills_its_typed_value() {
        let e = entry(&field("Checkbox", &[]), &json!(true)).expect("entry");
        assert_eq!(
            (e["valueBoolean"].clone(), e["value"].clone()),
            (json!(true), json!("true"))
        );
        let e = entry(&field("Number", &[]), &json!(3)).expect("entry");
        assert_eq!(e["valueNumeric"], 3.0);
        assert_eq!(e["value"], "3");
        let e = entry(&field("Date", &[]), &json!("2026-01-05")).expect("entry");
        assert_eq!(e["valueDate"], "2026-01-05T00:00:00.000Z");
        let e = entry(&field("Select", &[(4, "High")]), &json!(4)).expect("entry");
        assert_eq!(e["fieldOption"]["name"], "High");
        assert_eq!(e["fieldOption"]["icon"]["name"], "star");
        assert_eq!(e["valueKeyword"], "4");
        let e = entry(
            &field("Multi-Select", &[(1, "Web"), (2, "iOS")]),
            &json!([2]),
        )
        .expect("entry");
        assert_eq!(e["valueArray"], json!(["2"]));
        assert_eq!(e["fieldOptions"].as_array().map(Vec::len), Some(2));
        let doc = json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hello"}]}]});
        let e = entry(&field("Text Long", &[]), &doc).expect("entry");
        assert_eq!(e["value"], "Hello");
        let e = entry(&field("Link", &[]), &json!("https://x.test")).expect("entry");
        assert_eq!(e["valueKeyword"], "https://x.test");
    }

    #[test]
    fn empty_values_are_dropped() {
        assert!(entry(&field("Text String", &[]), &json!("")).is_none());
        assert!(entry(&field("Date", &[]), &json!("not a date")).is_none());
        assert!(entry(&field("Text Long", &[]), &Value::Null).is_none());
    }

    #[test]
    fn searchable_text_names_the_chosen_options() {
        let entries: Vec<Value> = [
            entry(
                &field("Multi-Select", &[(1, "Web"), (2, "iOS")]),
                &json!([2]),
            ),
            entry(&field("Select", &[(4, "High")]), &json!(4)),
            entry(&field("Checkbox", &[]), &json!(true)),
            entry(&field("Checkbox", &[]), &json!(false)),
            entry(&field("Number", &[]), &json!(2.5)),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(searchable_text(&entries), "iOS High My Checkbox 2.5");
    }
}
