//! Azure DevOps work items with a personal access token (`Basic base64(":" + PAT)`),
//! `settings.organizationUrl`, REST api-version 7.0.

use serde_json::{Map, Value, json};

use super::{FetchError, person, segment};
use crate::search::text::{js_date, js_string};
use crate::sync::http::{Auth, Tracker};
use crate::sync::integration::{Integration, Secrets};
use crate::sync::issue::{IssueData, opt_text};

const API_VERSION: &str = "7.0";

/// The fields that have columns of their own; the rest are custom fields.
const SYSTEM: [&str; 12] = [
    "System.Id",
    "System.Title",
    "System.Description",
    "System.State",
    "System.AssignedTo",
    "System.CreatedBy",
    "System.CreatedDate",
    "System.ChangedDate",
    "System.Tags",
    "System.TeamProject",
    "System.WorkItemType",
    "Microsoft.VSTS.Common.Priority",
];

pub struct Azure {
    org: String,
    auth: Auth,
}

impl Azure {
    pub async fn connect(
        i: &Integration,
        secrets: Option<&Secrets>,
        tracker: &Tracker,
    ) -> Result<Azure, String> {
        let pat = secrets
            .and_then(|s| s.personal_access_token.clone())
            .ok_or("Personal Access Token is required for Azure DevOps authentication")?;
        let org = i
            .setting("organizationUrl")
            .ok_or("Organization URL is required for Azure DevOps")?
            .trim_end_matches('/')
            .to_string();
        let az = Azure {
            org,
            auth: Auth::Basic(String::new(), pat),
        };
        tracker
            .get(&az.projects_url(), Some(&az.auth))
            .await
            .map_err(|e| {
                format!("Invalid Azure DevOps Personal Access Token or Organization URL: {e}")
            })?;
        Ok(az)
    }

    fn projects_url(&self) -> String {
        format!("{}/_apis/projects?api-version={API_VERSION}", self.org)
    }

    pub async fn fetch(&self, tracker: &Tracker, id: &str) -> Result<IssueData, FetchError> {
        let mut url = segment(&format!("{}/_apis/wit/workitems", self.org), &[id])?;
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION)
            .append_pair("$expand", "all");
        let v = tracker.get(url.as_str(), Some(&self.auth)).await?;
        map(&v).map_err(FetchError::Shape)
    }

    /// `{projects, statuses, priorities}`, the last two the fixed lists Node reports.
    pub async fn metadata(&self, tracker: &Tracker) -> Result<Map<String, Value>, String> {
        let v = tracker
            .get(&self.projects_url(), Some(&self.auth))
            .await
            .map_err(|e| e.to_string())?;
        let projects: Vec<Value> = v
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                let name = p.get("name").cloned().unwrap_or(Value::Null);
                json!({"id": p.get("id").cloned().unwrap_or(Value::Null), "key": name, "name": name})
            })
            .collect();
        let mut m = Map::new();
        m.insert("projects".into(), Value::Array(projects));
        m.insert(
            "statuses".into(),
            json!(
                ["New", "Active", "Resolved", "Closed", "Removed"]
                    .iter()
                    .map(|s| json!({"id": s, "name": s}))
                    .collect::<Vec<_>>()
            ),
        );
        m.insert(
            "priorities".into(),
            json!([
                {"id": "1", "name": "1 - Critical"},
                {"id": "2", "name": "2 - High"},
                {"id": "3", "name": "3 - Medium"},
                {"id": "4", "name": "4 - Low"}
            ]),
        );
        Ok(m)
    }
}

/// An identity field: an object with `displayName`/`uniqueName`, or a plain string.
fn identity(v: &Value) -> crate::sync::issue::Person {
    let unique = v
        .get("uniqueName")
        .filter(|u| crate::search::text::truthy(u));
    let display = v
        .get("displayName")
        .filter(|u| crate::search::text::truthy(u));
    person(
        Some(unique.unwrap_or(v)),
        Some(display.unwrap_or(v)),
        v.get("uniqueName"),
    )
}

/// A work item as `IssueData`.
pub fn map(v: &Value) -> Result<IssueData, String> {
    let id = v
        .get("id")
        .filter(|n| !n.is_null())
        .map(js_string)
        .ok_or("the Azure DevOps answer is not a work item (no id)")?;
    let f = v
        .get("fields")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("work item {id} has no fields"))?;
    let title = opt_text(f.get("System.Title"))
        .ok_or_else(|| format!("work item {id} has no System.Title"))?;
    let status = opt_text(f.get("System.State"))
        .ok_or_else(|| format!("work item {id} has no System.State"))?;
    let truthy = |k: &str| f.get(k).filter(|x| crate::search::text::truthy(x));
    Ok(IssueData {
        key: Some(id.clone()),
        id,
        title,
        description: f.get("System.Description").cloned(),
        status,
        priority: opt_text(f.get("Microsoft.VSTS.Common.Priority")),
        issue_type: None,
        assignee: truthy("System.AssignedTo").map(identity),
        reporter: truthy("System.CreatedBy").map(identity),
        labels: truthy("System.Tags")
            .map(|t| {
                js_string(t)
                    .split(';')
                    .map(|s| Value::String(s.trim().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        custom_fields: f
            .iter()
            .filter(|(k, v)| !SYSTEM.contains(&k.as_str()) && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        created_at: f.get("System.CreatedDate").and_then(js_date),
        updated_at: f.get("System.ChangedDate").and_then(js_date),
        url: v
            .pointer("/_links/html/href")
            .or_else(|| v.get("url"))
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_item_maps_as_node_maps_it() {
        let v = json!({"id": 42, "rev": 3, "url": "https://dev.azure.com/acme/_apis/wit/workItems/42",
            "fields": {"System.Id": 42, "System.Title": "Login fails", "System.State": "Active",
                "System.Description": "<div>Steps</div>", "Microsoft.VSTS.Common.Priority": 2,
                "System.AssignedTo": {"displayName": "Ada", "uniqueName": "ada@acme.com"},
                "System.Tags": "auth; web", "System.AreaPath": "Acme\\Web", "Custom.Risk": null,
                "System.CreatedDate": "2024-01-15T10:30:00.12Z", "System.ChangedDate": "2024-01-16T10:30:00Z"},
            "_links": {"html": {"href": "https://dev.azure.com/acme/web/_workitems/edit/42"}}});
        let i = map(&v).expect("maps");
        assert_eq!(
            i.cache_entry(4, "X"),
            r#"{"id":"42","key":"42","title":"Login fails","description":"<div>Steps</div>","status":"Active","priority":"2","assignee":{"id":"ada@acme.com","name":"Ada","email":"ada@acme.com"},"labels":["auth","web"],"customFields":{"System.AreaPath":"Acme\\Web"},"createdAt":"2024-01-15T10:30:00.120Z","updatedAt":"2024-01-16T10:30:00.000Z","url":"https://dev.azure.com/acme/web/_workitems/edit/42","integrationId":4,"cachedAt":"X"}"#
        );
    }
}
