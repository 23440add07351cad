//! The trackers: one adapter per integration, built from its row (credentials decrypted,
//! validated against the tracker as Node's `authenticate` does) and kept while the row is
//! unchanged. SIMPLE_URL has no tracker API and is never fetched from.

pub mod azure;
pub mod github;
pub mod jira;

use std::sync::Arc;

use reqwest::Url;
use serde_json::{Map, Value};

use super::http::{HttpError, Tracker};
use super::integration::{Integration, Provider};
use super::issue::{IssueData, Person};
use crate::sync::crypto;

/// Why one issue could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The answer does not have the tracker's shape, or the id cannot be asked for.
    #[error("{0}")]
    Shape(String),
}

/// A new OAuth token pair, to be stored encrypted.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An address from the environment (for a proxy, an Enterprise server or a test stand-in),
/// else the tracker's public one.
pub fn env_url(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().trim_end_matches('/').to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// An optional JSON value, `null` when absent (JSON.stringify drops `undefined`, but these
/// lists are built with every key present).
pub fn js(v: Option<&Value>) -> Value {
    v.cloned().unwrap_or(Value::Null)
}

pub fn person(id: Option<&Value>, name: Option<&Value>, email: Option<&Value>) -> Person {
    Person {
        id: id.cloned(),
        name: name.cloned(),
        email: email.cloned(),
    }
}

/// `base` with path segments appended, each percent-encoded.
pub fn segment(base: &str, parts: &[&str]) -> Result<Url, FetchError> {
    let mut url = Url::parse(base)
        .map_err(|e| FetchError::Shape(format!("{base:?} is not a usable URL: {e}")))?;
    {
        let mut segs = url
            .path_segments_mut()
            .map_err(|_| FetchError::Shape(format!("{base:?} cannot take a path")))?;
        segs.pop_if_empty();
        for p in parts {
            segs.push(p);
        }
    }
    Ok(url)
}

enum Kind {
    Jira(jira::Jira),
    GitHub(github::GitHub),
    Azure(azure::Azure),
    SimpleUrl,
}

pub struct Adapter {
    kind: Kind,
    pub tracker: Arc<Tracker>,
    /// What the adapter was built from: when the row differs, it is built again.
    pub fingerprint: std::sync::Mutex<String>,
}

/// What an integration row's adapter depends on.
pub fn fingerprint(i: &Integration) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}",
        i.updated_at,
        i.status,
        i.auth_type,
        i.credentials,
        i.settings,
        i.user_auth
            .as_ref()
            .map(|a| format!("{}:{}", a.id, a.access_token))
            .unwrap_or_default()
    )
}

impl Adapter {
    /// Builds and validates the adapter (Node's `getAdapter`). Returns with it a token pair
    /// renewed on the way, which the caller must store.
    pub async fn build(
        i: &Integration,
        tracker: Arc<Tracker>,
    ) -> Result<(Adapter, Option<Tokens>), String> {
        if i.status != "ACTIVE" {
            return Err(format!("Integration is not active: {}", i.id));
        }
        let secrets = if i.uses_credentials() {
            Some(i.secrets()?)
        } else {
            None
        };
        let oauth = match (&secrets, &i.user_auth) {
            (None, Some(a)) => {
                let key = crypto::master_key();
                let access = crypto::decrypt(&a.access_token, &key)
                    .map_err(|e| i.cannot_decrypt("OAuth access token", &e))?;
                let refresh = match &a.refresh_token {
                    Some(r) => Some(
                        crypto::decrypt(r, &key)
                            .map_err(|e| i.cannot_decrypt("OAuth refresh token", &e))?,
                    ),
                    None => None,
                };
                Some(jira::OAuthTokens {
                    access,
                    refresh,
                    expired: a.expired(),
                })
            }
            _ => None,
        };
        let mut renewed = None;
        let kind = match i.provider {
            Provider::Jira => {
                let (j, r) = jira::Jira::connect(i, secrets.as_ref(), oauth, &tracker).await?;
                renewed = r;
                Kind::Jira(j)
            }
            Provider::GitHub => {
                Kind::GitHub(github::GitHub::connect(i, secrets.as_ref(), &tracker).await?)
            }
            Provider::AzureDevOps => {
                Kind::Azure(azure::Azure::connect(i, secrets.as_ref(), &tracker).await?)
            }
            Provider::SimpleUrl => Kind::SimpleUrl,
        };
        Ok((
            Adapter {
                kind,
                tracker,
                fingerprint: std::sync::Mutex::new(fingerprint(i)),
            },
            renewed,
        ))
    }

    pub fn matches(&self, i: &Integration) -> bool {
        self.fingerprint.lock().is_ok_and(|f| *f == fingerprint(i))
    }

    /// Records that the row now holds `access` (encrypted), our own renewal.
    pub fn renewed(&self, i: &Integration, access: String) {
        let mut after = i.clone();
        if let Some(a) = after.user_auth.as_mut() {
            a.access_token = access;
        }
        if let Ok(mut f) = self.fingerprint.lock() {
            *f = fingerprint(&after);
        }
    }

    /// False for SIMPLE_URL, whose issues have no tracker to be fetched from.
    pub fn can_sync(&self) -> bool {
        !matches!(self.kind, Kind::SimpleUrl)
    }

    pub fn is_github(&self) -> bool {
        matches!(self.kind, Kind::GitHub(_))
    }

    pub async fn fetch(&self, id: &str) -> Result<IssueData, FetchError> {
        let t = &self.tracker;
        match &self.kind {
            Kind::Jira(j) => j.fetch(t, id).await,
            Kind::GitHub(g) => g.fetch(t, id).await,
            Kind::Azure(a) => a.fetch(t, id).await,
            Kind::SimpleUrl => Err(FetchError::Shape(
                "This integration does not support syncing individual issues".into(),
            )),
        }
    }

    /// When the adapter uses OAuth: trade the refresh token for a new pair.
    pub async fn refresh(&self) -> Option<Result<Tokens, String>> {
        match &self.kind {
            Kind::Jira(j) if j.is_oauth() => Some(j.refresh(&self.tracker).await),
            _ => None,
        }
    }

    /// The metadata cache entry: the projects, statuses and priorities the tracker has.
    pub async fn metadata(&self) -> Result<Map<String, Value>, String> {
        let t = &self.tracker;
        match &self.kind {
            Kind::Jira(j) => j.metadata(t).await,
            Kind::GitHub(g) => g.metadata(t).await,
            Kind::Azure(a) => a.metadata(t).await,
            Kind::SimpleUrl => Ok(Map::new()),
        }
    }
}
