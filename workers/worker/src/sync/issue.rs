//! An issue as a tracker reports it (TestPlanIt's `IssueData`), and the JSON the web app's
//! issue cache holds for it: the adapter's fields in the order Node builds them, `undefined`
//! ones left out, dates as `toISOString()` (or `null` when the tracker's date does not parse,
//! as `JSON.stringify` writes an invalid date).

use serde_json::{Map, Value};

/// A person on an issue: `{id, name, email?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: Option<Value>,
    pub name: Option<Value>,
    pub email: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IssueType {
    pub id: Option<Value>,
    pub name: Option<Value>,
    pub icon_url: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IssueData {
    pub id: String,
    pub key: Option<String>,
    pub title: String,
    /// `Some(Null)` when the tracker sent `null` (GitHub's empty body): kept in the cache.
    pub description: Option<Value>,
    pub status: String,
    pub priority: Option<String>,
    pub issue_type: Option<IssueType>,
    pub assignee: Option<Person>,
    pub reporter: Option<Person>,
    pub labels: Vec<Value>,
    pub custom_fields: Map<String, Value>,
    /// `toISOString()`, or `None` for an invalid date.
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub url: Option<String>,
}

/// An object of the fields that are defined, in order.
fn object(fields: &[(&str, &Option<Value>)]) -> Value {
    let mut m = Map::new();
    for (k, v) in fields {
        if let Some(v) = v {
            m.insert((*k).into(), v.clone());
        }
    }
    Value::Object(m)
}

fn person(p: &Person) -> Value {
    object(&[("id", &p.id), ("name", &p.name), ("email", &p.email)])
}

impl IssueData {
    /// The description as the local row stores it (`description || ""`).
    pub fn description_text(&self) -> String {
        match &self.description {
            Some(Value::String(s)) => s.clone(),
            Some(v) if crate::search::text::truthy(v) => crate::search::text::js_string(v),
            _ => String::new(),
        }
    }

    /// The issue's identifier for messages: its key, else its id.
    pub fn label(&self) -> &str {
        self.key
            .as_deref()
            .filter(|k| !k.is_empty())
            .unwrap_or(&self.id)
    }

    /// The object Node's `IssueData` serialises to.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        if let Some(k) = &self.key {
            m.insert("key".into(), k.clone().into());
        }
        m.insert("title".into(), self.title.clone().into());
        if let Some(d) = &self.description {
            m.insert("description".into(), d.clone());
        }
        m.insert("status".into(), self.status.clone().into());
        if let Some(p) = &self.priority {
            m.insert("priority".into(), p.clone().into());
        }
        if let Some(t) = &self.issue_type {
            m.insert(
                "issueType".into(),
                object(&[("id", &t.id), ("name", &t.name), ("iconUrl", &t.icon_url)]),
            );
        }
        if let Some(a) = &self.assignee {
            m.insert("assignee".into(), person(a));
        }
        if let Some(r) = &self.reporter {
            m.insert("reporter".into(), person(r));
        }
        m.insert("labels".into(), Value::Array(self.labels.clone()));
        m.insert(
            "customFields".into(),
            Value::Object(self.custom_fields.clone()),
        );
        m.insert("createdAt".into(), self.created_at.clone().into());
        m.insert("updatedAt".into(), self.updated_at.clone().into());
        if let Some(u) = &self.url {
            m.insert("url".into(), u.clone().into());
        }
        m
    }

    /// The cache entry: the issue, then `integrationId` and `cachedAt`.
    pub fn cache_entry(&self, integration: i32, cached_at: &str) -> String {
        let mut m = self.to_json();
        m.insert("integrationId".into(), integration.into());
        m.insert("cachedAt".into(), cached_at.into());
        Value::Object(m).to_string()
    }
}

/// A JSON value as JavaScript's `?.toString()` would give it for an optional text field.
pub fn opt_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(crate::search::text::js_string(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cache_entry_keeps_node_order_and_leaves_out_what_is_undefined() {
        let i = IssueData {
            id: "7".into(),
            key: Some("#7".into()),
            title: "Crash".into(),
            description: Some(Value::Null),
            status: "open".into(),
            priority: None,
            issue_type: None,
            assignee: None,
            reporter: Some(Person {
                id: Some(json!("ada")),
                name: Some(json!("ada")),
                email: None,
            }),
            labels: vec![json!("bug")],
            custom_fields: json!({"_github_owner": "o", "_github_repo": "r"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            created_at: Some("2024-01-15T10:30:00.000Z".into()),
            updated_at: None,
            url: Some("https://github.com/o/r/issues/7".into()),
        };
        assert_eq!(
            i.cache_entry(3, "2026-12-03T10:00:00.000Z"),
            r##"{"id":"7","key":"#7","title":"Crash","description":null,"status":"open","reporter":{"id":"ada","name":"ada"},"labels":["bug"],"customFields":{"_github_owner":"o","_github_repo":"r"},"createdAt":"2024-01-15T10:30:00.000Z","updatedAt":null,"url":"https://github.com/o/r/issues/7","integrationId":3,"cachedAt":"2026-12-03T10:00:00.000Z"}"##
        );
        assert_eq!(i.description_text(), "");
        assert_eq!(i.label(), "#7");
    }
}
