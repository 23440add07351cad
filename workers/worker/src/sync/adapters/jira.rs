//! Jira: Cloud with an API token (Basic `email:apiToken`, REST v3) or OAuth 2.0 (3LO: the
//! cloud id from `accessible-resources`, requests through `api.atlassian.com`, an expired
//! access token refreshed with its refresh token), and Server/Data Center
//! (`settings.deploymentType = "server"`: REST v2, a PAT as Bearer or `username:password`).

use std::sync::RwLock;

use serde_json::{Map, Value, json};

use super::{FetchError, Tokens, env_url, js, person, segment};
use crate::config::var;
use crate::search::text::{js_date, js_string};
use crate::sync::adf;
use crate::sync::http::{Auth, HttpError, Tracker};
use crate::sync::integration::{Integration, Secrets};
use crate::sync::issue::{IssueData, IssueType, opt_text};

/// The fields Node asks for (custom fields come back only when named, so Node's mapping sees
/// none unless a tracker adds them; we ask for the same).
const FIELDS: &str =
    "summary,description,status,priority,issuetype,assignee,reporter,labels,created,updated";

/// A user's OAuth tokens, decrypted, and whether `tokenExpiresAt` has passed.
pub struct OAuthTokens {
    pub access: String,
    pub refresh: Option<String>,
    pub expired: bool,
}

pub struct Jira {
    /// Where `/rest/api/N/...` starts.
    base: String,
    /// REST API version: 3 on Cloud, 2 on Server/Data Center.
    api: u8,
    auth: RwLock<Auth>,
    /// OAuth only: the refresh token and the OAuth application's settings.
    oauth: Option<OAuthApp>,
}

struct OAuthApp {
    refresh: RwLock<Option<String>>,
    client_id: String,
    client_secret: String,
    auth_url: String,
}

impl Jira {
    /// Builds the adapter and checks that the tracker accepts it, as Node's
    /// `performAuthentication` does.
    pub async fn connect(
        i: &Integration,
        secrets: Option<&Secrets>,
        oauth_tokens: Option<OAuthTokens>,
        tracker: &Tracker,
    ) -> Result<(Jira, Option<Tokens>), String> {
        let server = i.setting("deploymentType").is_some_and(|d| {
            matches!(
                d.to_ascii_lowercase().as_str(),
                "server" | "datacenter" | "data_center"
            )
        });
        let base_url = i
            .setting("baseUrl")
            .map(|b| b.trim_end_matches('/').to_string());
        if let Some(s) = secrets {
            let base = base_url.ok_or("Jira needs settings.baseUrl (the site's address)")?;
            let (auth, api) = if server {
                let auth = if let Some(pat) = &s.personal_access_token {
                    Auth::Bearer(pat.clone())
                } else if let (Some(u), Some(p)) = (&s.username, &s.password) {
                    Auth::Basic(u.clone(), p.clone())
                } else if let (Some(e), Some(t)) = (&s.email, &s.api_token) {
                    Auth::Basic(e.clone(), t.clone())
                } else {
                    return Err("Jira Server needs a personalAccessToken, or username and password, in the credentials".into());
                };
                (auth, 2)
            } else {
                let (Some(e), Some(t)) = (&s.email, &s.api_token) else {
                    return Err(
                        "API key authentication requires email, apiToken, and baseUrl".into(),
                    );
                };
                (Auth::Basic(e.clone(), t.clone()), 3)
            };
            let jira = Jira {
                base,
                api,
                auth: RwLock::new(auth),
                oauth: None,
            };
            let me = format!("{}/rest/api/{}/myself", jira.base, jira.api);
            tracker
                .get(&me, Some(&jira.auth()))
                .await
                .map_err(|e| format!("Jira API authentication failed: {e}"))?;
            return Ok((jira, None));
        }
        let Some(OAuthTokens {
            access,
            refresh,
            expired,
        }) = oauth_tokens
        else {
            return Err("Not authenticated: the integration has no credentials and the user no OAuth authorisation".into());
        };
        let (Some(client_id), Some(client_secret), Some(_redirect)) = (
            var("JIRA_CLIENT_ID"),
            var("JIRA_CLIENT_SECRET"),
            var("JIRA_REDIRECT_URI"),
        ) else {
            return Err("Jira OAuth configuration is incomplete. Please check environment variables (JIRA_CLIENT_ID, JIRA_CLIENT_SECRET, JIRA_REDIRECT_URI).".into());
        };
        let api_url = env_url("ATLASSIAN_API_URL", "https://api.atlassian.com");
        let oauth = OAuthApp {
            refresh: RwLock::new(refresh),
            client_id,
            client_secret,
            auth_url: env_url("ATLASSIAN_AUTH_URL", "https://auth.atlassian.com"),
        };
        let mut jira = Jira {
            base: String::new(),
            api: 3,
            auth: RwLock::new(Auth::Bearer(access)),
            oauth: Some(oauth),
        };
        let mut renewed = None;
        if expired {
            renewed = Some(jira.refresh(tracker).await?);
        }
        let resources = match jira.resources(tracker, &api_url).await {
            Err(e) if e.status() == Some(401) => {
                // The stored token is stale though not marked expired: one refresh, then again.
                renewed = Some(jira.refresh(tracker).await?);
                jira.resources(tracker, &api_url).await
            }
            r => r,
        }
        .map_err(|e| format!("Failed to get accessible resources: {e}"))?;
        let cloud = resources
            .as_array()
            .and_then(|a| a.first())
            .and_then(|r| r.get("id"))
            .map(js_string)
            .ok_or("No accessible Jira resources found")?;
        jira.base = format!("{api_url}/ex/jira/{cloud}");
        Ok((jira, renewed))
    }

    async fn resources(&self, tracker: &Tracker, api_url: &str) -> Result<Value, HttpError> {
        let url = format!("{api_url}/oauth/token/accessible-resources");
        tracker.get(&url, Some(&self.auth())).await
    }

    fn auth(&self) -> Auth {
        match self.auth.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn is_oauth(&self) -> bool {
        self.oauth.is_some()
    }

    /// Trades the refresh token for a new pair (Atlassian rotates refresh tokens) and uses
    /// the new access token from now on. The caller stores the pair.
    pub async fn refresh(&self, tracker: &Tracker) -> Result<Tokens, String> {
        let Some(app) = &self.oauth else {
            return Err("not an OAuth integration".into());
        };
        let current = app.refresh.read().ok().and_then(|r| r.clone());
        let Some(refresh) = current else {
            return Err("Authentication token has expired and there is no refresh token: the user must connect Jira again".into());
        };
        let body = json!({
            "grant_type": "refresh_token",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "refresh_token": refresh,
        });
        let answer = tracker
            .post(&format!("{}/oauth/token", app.auth_url), None, &body)
            .await
            .map_err(|e| format!("Failed to refresh tokens: {e}"))?;
        let access = answer
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or("Failed to refresh tokens: the answer has no access_token")?
            .to_string();
        let refresh = answer
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(refresh);
        let expires_at = answer
            .get("expires_in")
            .and_then(Value::as_f64)
            .filter(|s| *s > 0.0)
            .map(|s| chrono::Utc::now() + chrono::Duration::milliseconds((s * 1000.0) as i64));
        if let Ok(mut a) = self.auth.write() {
            *a = Auth::Bearer(access.clone());
        }
        if let Ok(mut r) = app.refresh.write() {
            *r = Some(refresh.clone());
        }
        Ok(Tokens {
            access,
            refresh,
            expires_at,
        })
    }

    pub async fn fetch(&self, tracker: &Tracker, id: &str) -> Result<IssueData, FetchError> {
        let mut url = segment(&format!("{}/rest/api/{}/issue", self.base, self.api), &[id])?;
        url.query_pairs_mut()
            .append_pair("fields", FIELDS)
            .append_pair("expand", "names,schema");
        let v = tracker.get(url.as_str(), Some(&self.auth())).await?;
        map(&v, &self.base).map_err(FetchError::Shape)
    }

    /// `{projects}` for the metadata cache.
    pub async fn metadata(&self, tracker: &Tracker) -> Result<Map<String, Value>, String> {
        let url = format!("{}/rest/api/{}/project/search", self.base, self.api);
        let v = tracker
            .get(&url, Some(&self.auth()))
            .await
            .map_err(|e| format!("Failed to fetch projects: {e}"))?;
        let projects: Vec<Value> = v
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                json!({"id": js(p.get("id")), "key": js(p.get("key")), "name": js(p.get("name"))})
            })
            .collect();
        let mut m = Map::new();
        m.insert("projects".into(), Value::Array(projects));
        Ok(m)
    }
}

/// A Jira issue as TestPlanIt's `IssueData`.
pub fn map(v: &Value, base: &str) -> Result<IssueData, String> {
    let key = v.get("key").map(js_string);
    let named = || {
        key.clone()
            .or_else(|| v.get("id").map(js_string))
            .unwrap_or_default()
    };
    let f = v
        .get("fields")
        .filter(|f| f.is_object())
        .ok_or_else(|| format!("Invalid Jira issue {}: missing fields object", named()))?;
    let title = f
        .get("summary")
        .filter(|s| crate::search::text::truthy(s))
        .map(js_string)
        .ok_or_else(|| format!("Invalid Jira issue {}: missing summary field", named()))?;
    let status = f
        .get("status")
        .filter(|s| crate::search::text::truthy(s))
        .ok_or_else(|| format!("Invalid Jira issue {}: missing status field", named()))?;
    let who = |p: &Value| {
        // Cloud identifies people by accountId; Server by key and name.
        let id = p
            .get("accountId")
            .or_else(|| p.get("key"))
            .or_else(|| p.get("name"));
        person(id, p.get("displayName"), p.get("emailAddress"))
    };
    let custom: Map<String, Value> = f
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| k.starts_with("customfield_") && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let site = v
        .get("self")
        .and_then(Value::as_str)
        .map(|s| s.split("/rest/").next().unwrap_or(s).to_string())
        .unwrap_or_else(|| base.to_string());
    Ok(IssueData {
        id: v.get("id").map(js_string).unwrap_or_default(),
        url: Some(format!("{site}/browse/{}", key.clone().unwrap_or_default())),
        key,
        title,
        description: adf::description(f.get("description")).map(Value::String),
        status: opt_text(status.get("name")).unwrap_or_default(),
        priority: f.get("priority").and_then(|p| opt_text(p.get("name"))),
        issue_type: f
            .get("issuetype")
            .filter(|t| t.is_object())
            .map(|t| IssueType {
                id: t.get("id").cloned(),
                name: t.get("name").cloned(),
                icon_url: t.get("iconUrl").cloned(),
            }),
        assignee: f.get("assignee").filter(|p| p.is_object()).map(who),
        reporter: f.get("reporter").filter(|p| p.is_object()).map(who),
        labels: f
            .get("labels")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        custom_fields: custom,
        created_at: f.get("created").and_then(js_date),
        updated_at: f.get("updated").and_then(js_date),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cloud_issue_maps_as_node_maps_it() {
        let v = json!({
            "id": "10001", "key": "PAY-7", "self": "https://acme.atlassian.net/rest/api/3/issue/10001",
            "fields": {
                "summary": "Card declined", "status": {"name": "In Progress"}, "priority": {"name": "High"},
                "issuetype": {"id": "10004", "name": "Bug", "iconUrl": "https://acme.atlassian.net/bug.svg"},
                "assignee": {"accountId": "5b10", "displayName": "Ada", "emailAddress": "ada@example.com"},
                "reporter": {"accountId": "5b11", "displayName": "Bob"},
                "labels": ["payments"], "customfield_10020": {"value": "Sprint 4"}, "customfield_10030": null,
                "created": "2024-01-15T10:30:00.000+0000", "updated": "2024-01-16T11:00:00.000+0100",
                "description": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Steps"}]}]}
            }
        });
        let i = map(&v, "https://unused").expect("maps");
        assert_eq!(
            i.cache_entry(1, "X"),
            r#"{"id":"10001","key":"PAY-7","title":"Card declined","description":"<p>Steps</p>","status":"In Progress","priority":"High","issueType":{"id":"10004","name":"Bug","iconUrl":"https://acme.atlassian.net/bug.svg"},"assignee":{"id":"5b10","name":"Ada","email":"ada@example.com"},"reporter":{"id":"5b11","name":"Bob"},"labels":["payments"],"customFields":{"customfield_10020":{"value":"Sprint 4"}},"createdAt":"2024-01-15T10:30:00.000Z","updatedAt":"2024-01-16T10:00:00.000Z","url":"https://acme.atlassian.net/browse/PAY-7","integrationId":1,"cachedAt":"X"}"#
        );
    }

    #[test]
    fn missing_required_fields_are_named() {
        let e = map(
            &json!({"key": "A-1", "fields": {"status": {"name": "x"}}}),
            "b",
        );
        assert_eq!(
            e.err().as_deref(),
            Some("Invalid Jira issue A-1: missing summary field")
        );
        let e = map(&json!({"id": "9", "fields": {"summary": "s"}}), "b");
        assert_eq!(
            e.err().as_deref(),
            Some("Invalid Jira issue 9: missing status field")
        );
        let e = map(&json!({"key": "A-2"}), "b");
        assert_eq!(
            e.err().as_deref(),
            Some("Invalid Jira issue A-2: missing fields object")
        );
    }

    #[test]
    fn a_server_issue_has_a_wiki_description_and_named_people() {
        let v = json!({"id": "5", "key": "OPS-5", "self": "https://jira.corp/rest/api/2/issue/5",
            "fields": {"summary": "Disk", "status": {"name": "Open"}, "description": "h1. Title",
                       "assignee": {"key": "JIRAUSER1", "name": "ada", "displayName": "Ada"}}});
        let i = map(&v, "b").expect("maps");
        assert_eq!(i.description, Some(json!("h1. Title")));
        assert_eq!(i.assignee.and_then(|p| p.id), Some(json!("JIRAUSER1")));
        assert_eq!(i.url.as_deref(), Some("https://jira.corp/browse/OPS-5"));
        assert!(i.labels.is_empty() && i.priority.is_none());
    }
}
