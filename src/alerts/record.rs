//! One alert as it is queued and sent: what happened to which app on which host, in words,
//! with every secret of the app's environment taken out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::env::is_secret_name;
use crate::policy::AlertKind;
use crate::proto::AppStatus;

/// An alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// The app instance's id.
    pub app: String,
    pub host: String,
    pub at_ms: u64,
    /// The app's status when it was raised.
    pub status: String,
    /// One line: `email-worker on web-1: errored (crash loop: …)`.
    pub summary: String,
    /// What the policy said of it.
    pub detail: String,
    /// The app's last stderr line, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub restarts: u32,
    /// Alerts of this app held back (dedup, max_per_hour) since the last one sent.
    #[serde(default)]
    pub held_back: u32,
    /// Destinations that have it already (`webhook:0`, `command:1`, `email`).
    #[serde(default)]
    pub delivered: Vec<String>,
}

impl Alert {
    /// The alert for `kind` about the app in `status`, with `detail`; values of the app's
    /// secret-looking variables (and URL passwords) are replaced by `<redacted>`.
    pub fn new(
        kind: AlertKind,
        detail: &str,
        status: &AppStatus,
        env: &BTreeMap<String, String>,
        at_ms: u64,
    ) -> Alert {
        let host = host();
        let detail = redact(detail, env);
        let last_error = status.last_error.as_deref().map(|l| redact(l, env));
        let what = match kind {
            AlertKind::Errored => "is errored",
            AlertKind::Failed => "failed",
            AlertKind::StartFailed => "cannot start",
            AlertKind::Memory => "went over its memory limit",
            AlertKind::Lost => "was lost with its keeper",
            AlertKind::Restarts => "keeps restarting",
            AlertKind::Recovered => "recovered",
            AlertKind::Test => "test alert",
        };
        Alert {
            kind,
            summary: format!("{} on {host}: {what}", status.id),
            app: status.id.clone(),
            host,
            at_ms,
            status: status.status.as_str().to_string(),
            detail,
            last_error,
            restarts: status.restarts,
            held_back: 0,
            delivered: Vec::new(),
        }
    }
}

/// This machine's name, for the alert's reader.
pub fn host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "this host".into())
}

/// `text` with the values of `env`'s secret-looking variables and any URL password hidden.
pub fn redact(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    let mut secrets: Vec<&str> = env
        .iter()
        .filter(|(k, v)| is_secret_name(k) && v.len() >= 4 && !v.contains("://"))
        .map(|(_, v)| v.as_str())
        .collect();
    // Longest first, so a secret that contains another is hidden whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s, "<redacted>");
    }
    redact_url_passwords(&out)
}

/// `scheme://user:pw@host` → `scheme://user:<redacted>@host`, wherever it stands in `text`.
fn redact_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@').and_then(|at| {
            let userinfo = &authority[..at];
            userinfo.find(':').map(|colon| (colon, at))
        }) {
            Some((colon, at)) => {
                out.push_str(&authority[..=colon]);
                out.push_str("<redacted>");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_of_the_environment_and_url_passwords_are_hidden() {
        let env = BTreeMap::from([
            ("EMAIL_SERVER_PASSWORD".to_string(), "hunter22".to_string()),
            ("NODE_ENV".to_string(), "production".to_string()),
        ]);
        assert_eq!(
            redact(
                "login failed with hunter22 for postgres://tp:pw@db:5432/tp in production",
                &env
            ),
            "login failed with <redacted> for postgres://tp:<redacted>@db:5432/tp in production"
        );
        assert_eq!(redact("redis://h:6379 ok", &env), "redis://h:6379 ok");
    }
}
