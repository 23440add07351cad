//! The template-field entries of the mapping configuration: a case or result field mapped or
//! created, with its type, limits and dropdown options (normalised as the web app does: one
//! default, in their order), from the several spellings the mapping screen has used.

use serde_json::{Value, json};

use super::config::{
    boolean, coalesce, first_string, num, num_value, object, opt_str, trimmed, when,
};

/// A string list from an array (of strings or `{name}`) or a comma/newline separated string.
fn string_list(v: &Value) -> Option<Vec<String>> {
    let list: Vec<String> = match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|e| match e {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Object(o) => o
                    .get("name")
                    .and_then(Value::as_str)
                    .map(|s| s.trim().to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect(),
        Value::String(s) => s
            .split(['\n', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => return None,
    };
    (!list.is_empty()).then_some(list)
}

fn option_list(v: Option<&Value>) -> Option<Value> {
    let v = v.filter(|v| truthy(v))?;
    struct Opt {
        name: String,
        icon: Value,
        color: Value,
        enabled: bool,
        default: bool,
        order: f64,
    }
    let mut list = Vec::new();
    match v {
        Value::String(_) => {
            let names = string_list(v)?;
            let opts = names
                .into_iter()
                .enumerate()
                .map(|(i, name)| json!({"name": name, "iconId": null, "iconColorId": null, "isEnabled": true, "isDefault": i == 0, "order": i}))
                .collect();
            return Some(Value::Array(opts));
        }
        Value::Array(entries) => {
            for (i, e) in entries.iter().enumerate() {
                match e {
                    Value::String(s) if !s.trim().is_empty() => list.push(Opt {
                        name: s.trim().to_string(),
                        icon: Value::Null,
                        color: Value::Null,
                        enabled: true,
                        default: i == 0,
                        order: i as f64,
                    }),
                    Value::Object(r) => {
                        let Some(name) = trimmed(coalesce(
                            r,
                            &["name", "label", "value", "displayName", "display_name"],
                        )) else {
                            continue;
                        };
                        list.push(Opt {
                            name,
                            icon: num_value(coalesce(r, &["iconId", "icon_id", "icon", "iconID"])),
                            color: num_value(coalesce(
                                r,
                                &[
                                    "iconColorId",
                                    "icon_color_id",
                                    "colorId",
                                    "color_id",
                                    "color",
                                ],
                            )),
                            enabled: boolean(
                                coalesce(r, &["isEnabled", "enabled", "is_enabled"]),
                                true,
                            ),
                            default: boolean(
                                coalesce(
                                    r,
                                    &["isDefault", "default", "is_default", "defaultOption"],
                                ),
                                false,
                            ),
                            order: num(coalesce(
                                r,
                                &["order", "position", "ordinal", "index", "sort"],
                            ))
                            .unwrap_or(i as f64),
                        });
                    }
                    _ => {}
                }
            }
        }
        _ => return None,
    }
    if list.is_empty() {
        return None;
    }
    list.sort_by(|a, b| a.order.total_cmp(&b.order));
    let mut seen = false;
    for o in &mut list {
        if o.default && seen {
            o.default = false;
        }
        seen |= o.default;
    }
    if !seen {
        list[0].default = true;
    }
    Some(Value::Array(
        list.into_iter()
            .map(|o| json!({"name": o.name, "iconId": o.icon, "iconColorId": o.color, "isEnabled": o.enabled, "isDefault": o.default, "order": num_value(Some(&json!(o.order)))}))
            .collect(),
    ))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

pub(super) fn template_field(v: &Value) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "create", "targetType": "case", "mappedTo": null, "typeId": null,
                      "typeName": null, "isRequired": false, "isRestricted": false});
    };
    let a = if r.get("action").and_then(Value::as_str) == Some("map") {
        "map"
    } else {
        "create"
    };
    let target = coalesce(
        r,
        &[
            "targetType",
            "target_type",
            "fieldTarget",
            "field_target",
            "scope",
            "assignment",
            "fieldCategory",
            "field_category",
        ],
    )
    .and_then(Value::as_str)
    .map(|s| s.trim().to_lowercase());
    let target = match target.as_deref() {
        Some("result" | "results") => "result",
        _ => "case",
    };
    let n = |keys: &[&str]| {
        let v = num_value(coalesce(r, keys));
        (!v.is_null()).then_some(v)
    };
    object(vec![
        ("action", Some(json!(a))),
        ("targetType", Some(json!(target))),
        ("mappedTo", when(a == "map", num_value(r.get("mappedTo")))),
        (
            "displayName",
            opt_str(first_string(r, &["displayName", "display_name", "label"])),
        ),
        (
            "systemName",
            opt_str(first_string(r, &["systemName", "system_name", "name"])),
        ),
        (
            "typeId",
            Some(num_value(coalesce(
                r,
                &["typeId", "type_id", "fieldTypeId"],
            ))),
        ),
        (
            "typeName",
            Some(
                first_string(r, &["typeName", "type_name", "fieldType", "field_type"])
                    .map_or(Value::Null, Value::String),
            ),
        ),
        ("hint", opt_str(first_string(r, &["hint", "description"]))),
        (
            "isRequired",
            Some(json!(boolean(
                coalesce(r, &["isRequired", "is_required"]),
                false
            ))),
        ),
        (
            "isRestricted",
            Some(json!(boolean(
                coalesce(r, &["isRestricted", "is_restricted"]),
                false
            ))),
        ),
        (
            "defaultValue",
            opt_str(first_string(r, &["defaultValue", "default_value"])),
        ),
        (
            "isChecked",
            r.get("isChecked").filter(|v| v.is_boolean()).cloned(),
        ),
        ("minValue", n(&["minValue", "min_value"])),
        ("maxValue", n(&["maxValue", "max_value"])),
        (
            "minIntegerValue",
            n(&["minIntegerValue", "min_integer_value"]),
        ),
        (
            "maxIntegerValue",
            n(&["maxIntegerValue", "max_integer_value"]),
        ),
        ("initialHeight", n(&["initialHeight", "initial_height"])),
        (
            "dropdownOptions",
            option_list(coalesce(
                r,
                &["dropdownOptions", "dropdown_options", "options", "choices"],
            )),
        ),
        (
            "templateName",
            opt_str(first_string(r, &["templateName", "template_name"])),
        ),
        ("order", n(&["order", "position", "ordinal"])),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::config::Configuration;
    use super::*;

    fn norm(v: Value) -> Value {
        Configuration::normalize(&v, &mut || "generated-pass-16".into()).to_value()
    }

    #[test]
    fn template_field_options_get_one_default_and_their_order() {
        let c = norm(
            json!({"templateFields": {"7": {"field_type": "Dropdown", "label": "Priority", "name": "priority",
            "target_type": "Results", "options": [{"label": "Low", "order": 2}, {"name": "High", "order": 1, "default": true}, {"name": "Mid", "is_default": 1, "order": 3}]}}}),
        );
        let f = &c["templateFields"]["7"];
        assert_eq!(f["targetType"], "result");
        assert_eq!(f["displayName"], "Priority");
        assert_eq!(f["systemName"], "priority");
        assert_eq!(
            f["dropdownOptions"],
            json!([
                {"name": "High", "iconId": null, "iconColorId": null, "isEnabled": true, "isDefault": true, "order": 1},
                {"name": "Low", "iconId": null, "iconColorId": null, "isEnabled": true, "isDefault": false, "order": 2},
                {"name": "Mid", "iconId": null, "iconColorId": null, "isEnabled": true, "isDefault": false, "order": 3}
            ])
        );
        let s = norm(json!({"templateFields": {"1": {"dropdownOptions": "a, b\nc"}}}));
        assert_eq!(
            s["templateFields"]["1"]["dropdownOptions"][0]["isDefault"],
            true
        );
        assert_eq!(s["templateFields"]["1"]["dropdownOptions"][2]["name"], "c");
    }
}
