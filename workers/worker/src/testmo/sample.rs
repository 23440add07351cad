//! The sample rows the mapping screen shows, cut down as TestPlanIt cuts them: strings to 1,000
//! characters (JavaScript's UTF-16 units), lists to 10 items, objects to 20 keys, 3 levels deep,
//! each cut saying how much was left out.

use serde_json::{Map, Value};

const MAX_STRING: usize = 1_000;
const MAX_ITEMS: usize = 10;
const MAX_KEYS: usize = 20;
const MAX_DEPTH: usize = 3;

pub fn sanitize(v: &Value) -> Value {
    at(v, 0)
}

fn at(v: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::String("[truncated depth]".into());
    }
    match v {
        Value::String(s) => {
            let units = s.encode_utf16().count();
            if units <= MAX_STRING {
                return v.clone();
            }
            let mut taken = 0;
            let mut end = 0;
            for (i, c) in s.char_indices() {
                if taken + c.len_utf16() > MAX_STRING {
                    break;
                }
                taken += c.len_utf16();
                end = i + c.len_utf8();
            }
            Value::String(format!(
                "{}\u{2026} [{} more characters]",
                &s[..end],
                units - taken
            ))
        }
        Value::Array(items) => {
            let mut out: Vec<Value> = items
                .iter()
                .take(MAX_ITEMS)
                .map(|x| at(x, depth + 1))
                .collect();
            if items.len() > MAX_ITEMS {
                out.push(Value::String(format!(
                    "[{} more items]",
                    items.len() - MAX_ITEMS
                )));
            }
            Value::Array(out)
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m.iter().take(MAX_KEYS) {
                out.insert(k.clone(), at(x, depth + 1));
            }
            if m.len() > MAX_KEYS {
                out.insert(
                    "__truncated_keys__".into(),
                    Value::String(format!("{} more keys", m.len() - MAX_KEYS)),
                );
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_values_are_cut_and_say_so() {
        let long = "é".repeat(1_005);
        let cut = sanitize(&json!({"note": long}));
        assert_eq!(
            cut["note"],
            format!("{}\u{2026} [5 more characters]", "é".repeat(1_000))
        );
        let list: Vec<i32> = (0..12).collect();
        assert_eq!(
            sanitize(&json!(list)),
            json!([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, "[2 more items]"])
        );
        let mut wide = Map::new();
        for i in 0..22 {
            wide.insert(format!("k{i}"), json!(i));
        }
        let cut = sanitize(&Value::Object(wide));
        assert_eq!(cut.as_object().map(Map::len), Some(21));
        assert_eq!(cut["__truncated_keys__"], "2 more keys");
        assert_eq!(
            sanitize(&json!({"a": {"b": {"c": {"d": 1}}}})),
            json!({"a": {"b": {"c": {"d": "[truncated depth]"}}}})
        );
        // A character outside the BMP counts as two, as JavaScript counts it.
        let emoji = "😀".repeat(501);
        assert_eq!(
            sanitize(&json!(emoji)),
            json!(format!("{}\u{2026} [2 more characters]", "😀".repeat(500)))
        );
    }
}
