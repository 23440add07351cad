//! GitHub issues with a personal access token (`Authorization: token <PAT>`), on
//! `https://api.github.com`, or a GitHub Enterprise server's API given as `settings.apiUrl`.
//! An issue is named `owner/repo#n`, `#n` or `n` (the last two need `settings.repository`).

use serde_json::{Map, Value, json};

use super::{FetchError, env_url, person, segment};
use crate::search::text::{js_date, js_string};
use crate::sync::http::{Auth, Tracker};
use crate::sync::integration::{Integration, Secrets};
use crate::sync::issue::IssueData;

pub struct GitHub {
    api: String,
    auth: Auth,
    /// `settings.repository` = `owner/repo`.
    repo: Option<(String, String)>,
}

/// `owner/repo#n`, `#n` or `n`: the repository when named, and the number.
pub fn parse_id(id: &str) -> (Option<(String, String)>, String) {
    if let Some((path, n)) = id.rsplit_once('#')
        && let Some((owner, repo)) = path.split_once('/')
        && !owner.is_empty()
        && !repo.is_empty()
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return (Some((owner.into(), repo.into())), n.into());
    }
    (None, id.strip_prefix('#').unwrap_or(id).to_string())
}

/// `owner` and `repo` of a `github.com/<owner>/<repo>/issues` address.
pub fn repo_of_url(url: &str) -> Option<(String, String)> {
    let rest = &url[url.find("github.com/")? + "github.com/".len()..];
    let mut parts = rest.splitn(3, '/');
    let owner = parts.next().filter(|s| !s.is_empty())?;
    let repo = parts.next().filter(|s| !s.is_empty())?;
    parts
        .next()
        .filter(|r| r.starts_with("issues"))
        .map(|_| (owner.to_string(), repo.to_string()))
}

impl GitHub {
    pub async fn connect(
        i: &Integration,
        secrets: Option<&Secrets>,
        tracker: &Tracker,
    ) -> Result<GitHub, String> {
        let pat = secrets
            .and_then(|s| s.personal_access_token.clone())
            .ok_or("GitHub adapter only supports Personal Access Token authentication: the credentials have no personalAccessToken")?;
        let api = i
            .setting("apiUrl")
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| env_url("GITHUB_API_URL", "https://api.github.com"));
        let repo = i.setting("repository").and_then(|r| {
            r.split_once('/')
                .map(|(o, r)| (o.to_string(), r.to_string()))
        });
        let gh = GitHub {
            api,
            auth: Auth::Token(pat),
            repo,
        };
        tracker
            .get(&format!("{}/user", gh.api), Some(&gh.auth))
            .await
            .map_err(|e| format!("Invalid GitHub Personal Access Token: {e}"))?;
        Ok(gh)
    }

    pub async fn fetch(&self, tracker: &Tracker, id: &str) -> Result<IssueData, FetchError> {
        let (named, number) = parse_id(id);
        let (owner, repo) = named.or_else(|| self.repo.clone()).ok_or_else(|| {
            FetchError::Shape(
                "GitHub repository not configured. Cannot fetch issue without owner/repo context."
                    .into(),
            )
        })?;
        let url = segment(
            &format!("{}/repos", self.api),
            &[&owner, &repo, "issues", &number],
        )?;
        let v = tracker.get(url.as_str(), Some(&self.auth)).await?;
        map(&v, Some((&owner, &repo))).map_err(FetchError::Shape)
    }

    /// `{projects}`: the user's repositories.
    pub async fn metadata(&self, tracker: &Tracker) -> Result<Map<String, Value>, String> {
        let v = tracker
            .get(
                &format!("{}/user/repos?per_page=100&sort=updated", self.api),
                Some(&self.auth),
            )
            .await
            .map_err(|e| e.to_string())?;
        let projects: Vec<Value> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let full = r.get("full_name").cloned().unwrap_or(Value::Null);
                json!({"id": full, "key": r.get("name").cloned().unwrap_or(Value::Null), "name": full})
            })
            .collect();
        let mut m = Map::new();
        m.insert("projects".into(), Value::Array(projects));
        Ok(m)
    }
}

/// A GitHub issue as `IssueData`; `asked` is the repository it was fetched from.
pub fn map(v: &Value, asked: Option<(&str, &str)>) -> Result<IssueData, String> {
    let number = v
        .get("number")
        .filter(|n| n.is_number())
        .map(js_string)
        .ok_or("the GitHub answer is not an issue (no number)")?;
    let from_api = v
        .get("repository_url")
        .and_then(Value::as_str)
        .and_then(|u| {
            let rest = &u[u.find("/repos/")? + "/repos/".len()..];
            let (o, r) = rest.split_once('/')?;
            (!r.contains('/')).then(|| (o.to_string(), r.to_string()))
        })
        .or_else(|| {
            v.get("html_url")
                .and_then(Value::as_str)
                .and_then(repo_of_url)
        })
        .or_else(|| asked.map(|(o, r)| (o.to_string(), r.to_string())));
    let mut custom = Map::new();
    if let Some((o, r)) = from_api {
        custom.insert("_github_owner".into(), o.into());
        custom.insert("_github_repo".into(), r.into());
    }
    let who = |p: &Value| person(p.get("login"), p.get("login"), p.get("email"));
    Ok(IssueData {
        key: Some(format!("#{number}")),
        id: number,
        title: v.get("title").map(js_string).unwrap_or_default(),
        description: v.get("body").cloned(),
        status: v.get("state").map(js_string).unwrap_or_default(),
        priority: None,
        issue_type: None,
        assignee: v.get("assignee").filter(|p| p.is_object()).map(who),
        reporter: v.get("user").filter(|p| p.is_object()).map(who),
        labels: v
            .get("labels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| l.get("name").cloned().unwrap_or(Value::Null))
            .collect(),
        custom_fields: custom,
        created_at: v.get("created_at").and_then(js_date),
        updated_at: v.get("updated_at").and_then(js_date),
        url: v
            .get("html_url")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_the_repository_or_not() {
        assert_eq!(
            parse_id("acme/web#12"),
            (Some(("acme".into(), "web".into())), "12".into())
        );
        assert_eq!(parse_id("#12"), (None, "12".into()));
        assert_eq!(parse_id("12"), (None, "12".into()));
        // Node's pattern lets the repository hold a slash; the path segment encodes it.
        assert_eq!(parse_id("a/b/c#1").0, Some(("a".into(), "b/c".into())));
        assert_eq!(parse_id("a/#1").0, None);
        assert_eq!(
            repo_of_url("https://github.com/acme/web/issues/12"),
            Some(("acme".into(), "web".into()))
        );
        assert_eq!(repo_of_url("https://github.com/acme/web/pull/12"), None);
    }

    #[test]
    fn an_issue_maps_as_node_maps_it() {
        let v = json!({"number": 12, "title": "Crash", "body": null, "state": "open",
            "html_url": "https://github.com/acme/web/issues/12",
            "repository_url": "https://api.github.com/repos/acme/web",
            "user": {"login": "ada"}, "assignee": null,
            "labels": [{"name": "bug", "color": "f00"}],
            "created_at": "2024-01-15T10:30:00Z", "updated_at": "2024-01-16T10:30:00Z"});
        let i = map(&v, None).expect("maps");
        assert_eq!(
            i.cache_entry(2, "X"),
            r##"{"id":"12","key":"#12","title":"Crash","description":null,"status":"open","reporter":{"id":"ada","name":"ada"},"labels":["bug"],"customFields":{"_github_owner":"acme","_github_repo":"web"},"createdAt":"2024-01-15T10:30:00.000Z","updatedAt":"2024-01-16T10:30:00.000Z","url":"https://github.com/acme/web/issues/12","integrationId":2,"cachedAt":"X"}"##
        );
    }
}
