//! The mapping configuration the web app's mapping screen stores on the job, normalised as
//! TestPlanIt normalises it (`normalizeMappingConfiguration`): every section keyed by Testmo
//! id, each entry completed with its defaults, keys only the chosen action uses left out.
//! The result stays JSON (what the job row stores back when the import completes), read
//! through the accessors below; the phases record what they mapped or created in it.

use serde_json::{Map, Value, json};

use super::config_fields::template_field;
use super::values::{number, text};

/// The sections, in the order the normalised object lists them.
pub const SECTIONS: [&str; 12] = [
    "workflows",
    "statuses",
    "roles",
    "milestoneTypes",
    "groups",
    "tags",
    "issueTargets",
    "users",
    "configurations",
    "templateFields",
    "templates",
    "customFields",
];

pub struct Configuration(pub Map<String, Value>);

/// A Testmo id from an object key: Node's `Number(key)`, finite.
fn key_id(key: &str) -> Option<i64> {
    let t = key.trim();
    if t.is_empty() {
        return Some(0);
    }
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && f.fract() == 0.0)
        .map(|f| f as i64)
}

/// JavaScript's loose number (`Number(x)` for strings, finite only).
pub(super) fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Some(0.0);
            }
            t.parse::<f64>().ok().filter(|f| f.is_finite())
        }
        _ => None,
    }
}

pub(super) fn num_value(v: Option<&Value>) -> Value {
    match num(v) {
        Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => json!(f as i64),
        Some(f) => json!(f),
        None => Value::Null,
    }
}

pub(super) fn boolean(v: Option<&Value>, fallback: bool) -> bool {
    match v {
        None | Some(Value::Null) => fallback,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => matches!(s.to_lowercase().as_str(), "1" | "true" | "yes"),
        Some(_) => fallback,
    }
}

pub(super) fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// The first of `keys` that holds a string.
pub(super) fn first_string(r: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| string(r.get(*k)))
}

/// The first of `keys` that is present and not null (JavaScript's `a ?? b ?? c`).
pub(super) fn coalesce<'a>(r: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| r.get(*k).filter(|v| !v.is_null()))
}

pub(super) fn action(r: &Map<String, Value>, default: &'static str) -> &'static str {
    match r.get("action").and_then(Value::as_str) {
        Some("map") => "map",
        Some("create") => "create",
        _ => default,
    }
}

/// Builds an object leaving out the `None`s, as `JSON.stringify` leaves out `undefined`.
pub(super) fn object(entries: Vec<(&str, Option<Value>)>) -> Value {
    let mut m = Map::new();
    for (k, v) in entries {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    Value::Object(m)
}

pub(super) fn when(cond: bool, v: Value) -> Option<Value> {
    cond.then_some(v)
}

pub(super) fn opt_str(s: Option<String>) -> Option<Value> {
    s.map(Value::String)
}

fn workflow(v: &Value) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "map", "mappedTo": null, "workflowType": null, "name": null,
                      "scope": null, "iconId": null, "colorId": null});
    };
    let a = action(r, "map");
    let (map, create) = (a == "map", a == "create");
    let name = string(r.get("name")).map_or(Value::Null, Value::String);
    let scope = string(r.get("scope")).map_or(Value::Null, Value::String);
    object(vec![
        ("action", Some(json!(a))),
        ("mappedTo", when(map, num_value(r.get("mappedTo")))),
        (
            "workflowType",
            Some(
                first_string(r, &["workflowType", "suggestedWorkflowType"])
                    .map_or(Value::Null, Value::String),
            ),
        ),
        ("name", when(create, name)),
        ("scope", when(create, scope)),
        ("iconId", when(create, num_value(r.get("iconId")))),
        ("colorId", when(create, num_value(r.get("colorId")))),
    ])
}

fn status(v: &Value) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "create", "mappedTo": null, "colorId": null, "isSuccess": false,
                      "isFailure": false, "isCompleted": false, "isEnabled": true, "scopeIds": []});
    };
    let a = action(r, "create");
    let (map, create) = (a == "map", a == "create");
    let scopes: Vec<Value> = r
        .get("scopeIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| num_value(Some(x)))
                .filter(|x| !x.is_null())
                .collect()
        })
        .unwrap_or_default();
    object(vec![
        ("action", Some(json!(a))),
        ("mappedTo", when(map, num_value(r.get("mappedTo")))),
        ("name", opt_str(string(r.get("name")))),
        (
            "systemName",
            opt_str(first_string(r, &["systemName", "system_name"])),
        ),
        ("colorHex", opt_str(string(r.get("colorHex")))),
        ("colorId", when(create, num_value(r.get("colorId")))),
        ("aliases", opt_str(string(r.get("aliases")))),
        ("isSuccess", Some(json!(boolean(r.get("isSuccess"), false)))),
        ("isFailure", Some(json!(boolean(r.get("isFailure"), false)))),
        (
            "isCompleted",
            Some(json!(boolean(r.get("isCompleted"), false))),
        ),
        ("isEnabled", Some(json!(boolean(r.get("isEnabled"), true)))),
        ("scopeIds", when(create, Value::Array(scopes))),
    ])
}

/// Groups, tags: `{action, mappedTo?, name?, note?}`, create by default.
fn named(v: &Value, with_note: bool) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "create", "mappedTo": null});
    };
    let a = action(r, "create");
    object(vec![
        ("action", Some(json!(a))),
        ("mappedTo", when(a == "map", num_value(r.get("mappedTo")))),
        ("name", opt_str(string(r.get("name")))),
        (
            "note",
            if with_note {
                opt_str(string(r.get("note")))
            } else {
                None
            },
        ),
    ])
}

fn issue_target(v: &Value) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "create", "mappedTo": null, "provider": null, "testmoType": null});
    };
    let a = action(r, "create");
    object(vec![
        ("action", Some(json!(a))),
        ("mappedTo", when(a == "map", num_value(r.get("mappedTo")))),
        ("name", opt_str(string(r.get("name")))),
        (
            "provider",
            Some(string(r.get("provider")).map_or(Value::Null, Value::String)),
        ),
        (
            "testmoType",
            when(
                a == "create",
                num_value(coalesce(r, &["testmoType", "type"])),
            ),
        ),
    ])
}

pub(super) fn trimmed(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn user(v: &Value, password: &mut dyn FnMut() -> String) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "map", "mappedTo": null, "roleId": null, "isActive": true, "isApi": false});
    };
    let a = action(r, "map");
    let create = a == "create";
    let access = r
        .get("access")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_uppercase())
        .filter(|s| matches!(s.as_str(), "ADMIN" | "USER" | "PROJECTADMIN" | "NONE"));
    object(vec![
        ("action", Some(json!(a))),
        (
            "mappedTo",
            when(
                !create,
                string(r.get("mappedTo")).map_or(Value::Null, Value::String),
            ),
        ),
        (
            "name",
            if create {
                opt_str(trimmed(r.get("name")))
            } else {
                None
            },
        ),
        (
            "email",
            if create {
                opt_str(trimmed(r.get("email")))
            } else {
                None
            },
        ),
        (
            "password",
            when(
                create,
                json!(trimmed(r.get("password")).unwrap_or_else(&mut *password)),
            ),
        ),
        ("access", if create { opt_str(access) } else { None }),
        ("roleId", when(create, num_value(r.get("roleId")))),
        (
            "isActive",
            when(create, json!(boolean(r.get("isActive"), true))),
        ),
        ("isApi", when(create, json!(boolean(r.get("isApi"), false)))),
    ])
}

fn permissions(v: Option<&Value>) -> Value {
    let mut out = Map::new();
    let mut assign = |area: &str, s: &Map<String, Value>| {
        let flag = |k: &str| json!(boolean(s.get(k), false));
        out.insert(
            area.to_string(),
            json!({"canAddEdit": flag("canAddEdit"), "canDelete": flag("canDelete"), "canClose": flag("canClose")}),
        );
    };
    match v {
        Some(Value::Array(entries)) => {
            for e in entries.iter().filter_map(Value::as_object) {
                if let Some(area) = e.get("area").and_then(Value::as_str) {
                    assign(area, e);
                }
            }
        }
        Some(Value::Object(m)) => {
            for (area, e) in m {
                if let Some(e) = e.as_object() {
                    assign(area, e);
                }
            }
        }
        _ => {}
    }
    Value::Object(out)
}

fn role(v: &Value) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "create", "mappedTo": null, "isDefault": false, "permissions": {}});
    };
    let a = action(r, "create");
    let create = a == "create";
    object(vec![
        ("action", Some(json!(a))),
        ("mappedTo", when(!create, num_value(r.get("mappedTo")))),
        ("name", opt_str(string(r.get("name")))),
        (
            "isDefault",
            when(create, json!(boolean(r.get("isDefault"), false))),
        ),
        (
            "permissions",
            when(create, permissions(r.get("permissions"))),
        ),
    ])
}

fn milestone_type(v: &Value) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "create", "mappedTo": null, "iconId": null, "isDefault": false});
    };
    let a = action(r, "create");
    let create = a == "create";
    object(vec![
        ("action", Some(json!(a))),
        ("mappedTo", when(!create, num_value(r.get("mappedTo")))),
        ("name", opt_str(string(r.get("name")))),
        ("iconId", when(create, num_value(r.get("iconId")))),
        (
            "isDefault",
            when(create, json!(boolean(r.get("isDefault"), false))),
        ),
    ])
}

fn variant(key: &str, v: &Value) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"token": key, "action": "create-category-variant", "categoryName": null, "variantName": key});
    };
    let a = r
        .get("action")
        .and_then(Value::as_str)
        .filter(|a| {
            matches!(
                *a,
                "map-variant" | "create-variant-existing-category" | "create-category-variant"
            )
        })
        .unwrap_or("create-category-variant");
    let token = string(r.get("token")).unwrap_or_else(|| key.to_string());
    let variant_name = string(r.get("variantName")).unwrap_or_else(|| token.clone());
    object(vec![
        ("token", Some(json!(token))),
        ("action", Some(json!(a))),
        (
            "mappedVariantId",
            when(a == "map-variant", num_value(r.get("mappedVariantId"))),
        ),
        (
            "categoryId",
            when(
                a == "create-variant-existing-category",
                num_value(r.get("categoryId")),
            ),
        ),
        (
            "categoryName",
            when(
                a == "create-category-variant",
                string(r.get("categoryName")).map_or(Value::Null, Value::String),
            ),
        ),
        ("variantName", when(a != "map-variant", json!(variant_name))),
    ])
}

fn configuration(v: &Value) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "create", "mappedTo": null, "variants": {}});
    };
    let a = action(r, "create");
    let create = a == "create";
    let mut variants = Map::new();
    if let Some(m) = r.get("variants").and_then(Value::as_object) {
        for (k, e) in m {
            if let Some(i) = key_id(k) {
                variants.insert(i.to_string(), variant(k, e));
            }
        }
    }
    object(vec![
        ("action", Some(json!(a))),
        ("mappedTo", when(!create, num_value(r.get("mappedTo")))),
        (
            "name",
            if create {
                opt_str(string(r.get("name")))
            } else {
                None
            },
        ),
        ("variants", Some(Value::Object(variants))),
    ])
}

fn template(v: &Value) -> Value {
    let Some(r) = v.as_object() else {
        return json!({"action": "map", "mappedTo": null});
    };
    let a = action(r, "map");
    let create = a == "create";
    object(vec![
        ("action", Some(json!(a))),
        ("mappedTo", when(!create, num_value(r.get("mappedTo")))),
        (
            "name",
            if create {
                opt_str(string(r.get("name")))
            } else {
                None
            },
        ),
    ])
}

impl Configuration {
    /// Normalises what the job row holds; `password` makes the password of a created user
    /// who was given none.
    pub fn normalize(raw: &Value, password: &mut dyn FnMut() -> String) -> Configuration {
        let mut out = Map::new();
        for s in SECTIONS {
            out.insert(s.to_string(), Value::Object(Map::new()));
        }
        let Some(r) = raw.as_object() else {
            return Configuration(out);
        };
        for section in SECTIONS {
            let Some(entries) = r.get(section).and_then(Value::as_object) else {
                continue;
            };
            if section == "customFields" {
                out.insert(section.into(), Value::Object(entries.clone()));
                continue;
            }
            let mut normalized = Map::new();
            for (k, e) in entries {
                let Some(id) = key_id(k) else { continue };
                let v = match section {
                    "workflows" => workflow(e),
                    "statuses" => status(e),
                    "groups" => named(e, true),
                    "tags" => named(e, false),
                    "issueTargets" => issue_target(e),
                    "roles" => role(e),
                    "users" => user(e, password),
                    "configurations" => configuration(e),
                    "templateFields" => template_field(e),
                    "milestoneTypes" => milestone_type(e),
                    _ => template(e),
                };
                normalized.insert(id.to_string(), v);
            }
            out.insert(section.into(), Value::Object(normalized));
        }
        Configuration(out)
    }

    /// The entries of a section as (Testmo id, entry), in the stored order.
    pub fn entries(&self, section: &str) -> Vec<(i64, Map<String, Value>)> {
        self.0
            .get(section)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_object()?.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records the outcome of an entry: it now maps to `target` (Node does the same, so the
    /// configuration stored at the end says where everything went).
    pub fn resolve(&mut self, section: &str, id: i64, target: Value, name: Option<&str>) {
        if let Some(e) = self
            .0
            .get_mut(section)
            .and_then(|s| s.get_mut(id.to_string()))
            .and_then(Value::as_object_mut)
        {
            e.insert("action".into(), json!("map"));
            e.insert("mappedTo".into(), target);
            if let Some(n) = name {
                e.insert("name".into(), json!(n));
            }
        }
    }

    pub fn count(&self, section: &str) -> usize {
        self.0
            .get(section)
            .and_then(Value::as_object)
            .map_or(0, Map::len)
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

/// What a configuration entry asks for, read with the rules the phases apply.
pub fn mapped_number(e: &Map<String, Value>) -> Option<i64> {
    e.get("mappedTo").and_then(number)
}

pub fn entry_text(e: &Map<String, Value>, key: &str) -> Option<String> {
    e.get(key).and_then(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: Value) -> Value {
        Configuration::normalize(&v, &mut || "generated-pass-16".into()).to_value()
    }

    #[test]
    fn every_section_is_present_and_non_numeric_keys_are_dropped() {
        let c = norm(
            json!({"workflows": {"x": {"action": "map"}, "3": {"action": "map", "mappedTo": "7"}}}),
        );
        assert_eq!(c.as_object().unwrap().len(), 12);
        assert_eq!(
            c["workflows"],
            json!({"3": {"action": "map", "mappedTo": 7, "workflowType": null}})
        );
        assert_eq!(norm(json!(null))["statuses"], json!({}));
    }

    #[test]
    fn entries_keep_only_what_their_action_uses() {
        let c = norm(json!({
            "workflows": {"1": {"action": "create", "name": "Draft", "scope": "CASES", "iconId": 2, "colorId": 3, "mappedTo": 9}},
            "statuses": {"2": {"action": "bogus", "name": "Passed", "isSuccess": "yes", "scopeIds": [1, "2", "x"]}},
            "users": {"5": {"action": "create", "email": " a@b.c ", "name": "A", "access": "admin"},
                      "6": {"action": "map", "mappedTo": "user-1", "email": "ignored"}},
            "configurations": {"4": {"action": "map", "mappedTo": 8, "variants": {"0": {"action": "map-variant", "mappedVariantId": "3", "token": "Chrome"}, "1": "x"}}},
        }));
        assert_eq!(
            c["workflows"]["1"],
            json!({"action": "create", "workflowType": null, "name": "Draft", "scope": "CASES", "iconId": 2, "colorId": 3})
        );
        assert_eq!(
            c["statuses"]["2"],
            json!({"action": "create", "name": "Passed", "colorId": null, "isSuccess": true, "isFailure": false,
                   "isCompleted": false, "isEnabled": true, "scopeIds": [1, 2]})
        );
        assert_eq!(
            c["users"]["5"],
            json!({"action": "create", "name": "A", "email": "a@b.c", "password": "generated-pass-16",
                   "access": "ADMIN", "roleId": null, "isActive": true, "isApi": false})
        );
        assert_eq!(
            c["users"]["6"],
            json!({"action": "map", "mappedTo": "user-1"})
        );
        assert_eq!(
            c["configurations"]["4"]["variants"],
            json!({"0": {"token": "Chrome", "action": "map-variant", "mappedVariantId": 3},
                   "1": {"token": "1", "action": "create-category-variant", "categoryName": null, "variantName": "1"}})
        );
    }

    #[test]
    fn resolve_records_the_target() {
        let mut c =
            Configuration::normalize(&json!({"tags": {"4": {"name": "smoke"}}}), &mut String::new);
        c.resolve("tags", 4, json!(12), None);
        assert_eq!(c.entries("tags")[0].1["mappedTo"], 12);
        assert_eq!(c.entries("tags")[0].1["action"], "map");
    }
}
