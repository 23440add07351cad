//! What a sync job reads before it talks to a tracker (spec §6.1 steps 1–3): the user, the
//! integration with this user's active authorisation, the auth check by `authType`, and the
//! stored credentials decrypted.

use serde_json::Value;
use sqlx::PgPool;

use super::crypto;
use crate::search::text::truthy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Jira,
    GitHub,
    AzureDevOps,
    SimpleUrl,
}

impl Provider {
    fn parse(s: &str) -> Option<Provider> {
        Some(match s {
            "JIRA" => Provider::Jira,
            "GITHUB" => Provider::GitHub,
            "AZURE_DEVOPS" => Provider::AzureDevOps,
            "SIMPLE_URL" => Provider::SimpleUrl,
            _ => return None,
        })
    }
}

/// A user's OAuth authorisation (`"UserIntegrationAuth"`), tokens still encrypted.
#[derive(Debug, Clone)]
pub struct UserAuth {
    pub id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl UserAuth {
    pub fn expired(&self) -> bool {
        self.expires_at.is_some_and(|t| t < chrono::Utc::now())
    }
}

/// An `"Integration"` row with what the job's user brings to it.
#[derive(Debug, Clone)]
pub struct Integration {
    pub id: i32,
    pub name: String,
    pub provider: Provider,
    pub auth_type: String,
    pub status: String,
    pub credentials: Value,
    pub settings: Value,
    /// Changes whenever an administrator edits the integration: adapters are rebuilt then.
    pub updated_at: String,
    pub user_auth: Option<UserAuth>,
}

/// What the credentials hold, decrypted.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub email: Option<String>,
    pub api_token: Option<String>,
    pub personal_access_token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("User not found")]
    NoUser,
    #[error("Integration not found")]
    NoIntegration,
    #[error("integration {0} has provider {1:?}, which this worker does not know")]
    UnknownProvider(i32, String),
    #[error("cannot read {what}: {source}")]
    Db {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl Integration {
    /// A setting as text (`settings.baseUrl`, ...), when set.
    pub fn setting(&self, name: &str) -> Option<String> {
        self.settings
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The auth check of §6.1 step 3; `Err` is the message the job records.
    pub fn check_auth(&self) -> Result<(), String> {
        match self.auth_type.as_str() {
            "OAUTH2" => match &self.user_auth {
                None => Err("User not authenticated for this integration".into()),
                // An expired token is refreshed (when it can be) before this check fails it.
                Some(_) => Ok(()),
            },
            "API_KEY" | "PERSONAL_ACCESS_TOKEN" => {
                if truthy(&self.credentials) {
                    Ok(())
                } else {
                    Err("Integration is missing credentials".into())
                }
            }
            "NONE" => Ok(()),
            _ if self.user_auth.is_none() && !truthy(&self.credentials) => {
                Err("No authentication credentials found for this integration".into())
            }
            _ => Ok(()),
        }
    }

    /// The credentials as plain JSON: stored plainly, or `{encrypted: "<b64>"}` decrypted
    /// with `ENCRYPTION_KEY`.
    pub fn secrets(&self) -> Result<Secrets, String> {
        let plain = match self.credentials.get("encrypted").and_then(Value::as_str) {
            Some(blob) => {
                let text = crypto::decrypt(blob, &crypto::master_key())
                    .map_err(|e| self.cannot_decrypt("credentials", &e))?;
                serde_json::from_str::<Value>(&text).map_err(|_| {
                    format!(
                        "the credentials of integration \"{}\" (id {}) decrypt to something that is not JSON",
                        self.name, self.id
                    )
                })?
            }
            None => self.credentials.clone(),
        };
        let s = |k: &str| {
            plain
                .get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Ok(Secrets {
            email: s("email"),
            api_token: s("apiToken"),
            personal_access_token: s("personalAccessToken"),
            username: s("username"),
            password: s("password"),
        })
    }

    pub fn cannot_decrypt(&self, what: &str, e: &crypto::CryptoError) -> String {
        format!(
            "cannot decrypt the {what} of integration \"{}\" (id {}): {e}; check ENCRYPTION_KEY is the web app's",
            self.name, self.id
        )
    }

    /// Uses the API-key path (credentials) rather than a user's OAuth tokens, as Node does.
    pub fn uses_credentials(&self) -> bool {
        matches!(self.auth_type.as_str(), "API_KEY" | "PERSONAL_ACCESS_TOKEN")
            && truthy(&self.credentials)
    }
}

fn db(what: &'static str) -> impl Fn(sqlx::Error) -> LoadError {
    move |source| LoadError::Db { what, source }
}

/// Loads the integration and the user's active authorisation; the user must exist.
pub async fn load(pool: &PgPool, user: &str, integration: i32) -> Result<Integration, LoadError> {
    let found: Option<(String,)> = sqlx::query_as(r#"SELECT id FROM "User" WHERE id = $1"#)
        .bind(user)
        .fetch_optional(pool)
        .await
        .map_err(db("the user"))?;
    if found.is_none() {
        return Err(LoadError::NoUser);
    }
    type Row = (String, String, String, String, Value, Option<Value>, String);
    let row: Option<Row> = sqlx::query_as(
        r#"SELECT name, provider::text, "authType"::text, status::text, credentials, settings,
                  "updatedAt"::text
           FROM "Integration" WHERE id = $1"#,
    )
    .bind(integration)
    .fetch_optional(pool)
    .await
    .map_err(db("the integration"))?;
    let Some((name, provider, auth_type, status, credentials, settings, updated_at)) = row else {
        return Err(LoadError::NoIntegration);
    };
    let provider =
        Provider::parse(&provider).ok_or(LoadError::UnknownProvider(integration, provider))?;
    type AuthRow = (
        String,
        String,
        Option<String>,
        Option<chrono::DateTime<chrono::Utc>>,
    );
    // The tokens of the job's own user (Node's check reads these; its adapter then took the
    // newest row of any user, which could act as someone else).
    let auth: Option<AuthRow> = sqlx::query_as(
        r#"SELECT id, "accessToken", "refreshToken", "tokenExpiresAt" AT TIME ZONE 'UTC'
           FROM "UserIntegrationAuth"
           WHERE "integrationId" = $1 AND "userId" = $2 AND "isActive"
           ORDER BY "updatedAt" DESC LIMIT 1"#,
    )
    .bind(integration)
    .bind(user)
    .fetch_optional(pool)
    .await
    .map_err(db("the user's authorisation"))?;
    Ok(Integration {
        id: integration,
        name,
        provider,
        auth_type,
        status,
        credentials,
        settings: settings.unwrap_or(Value::Null),
        updated_at,
        user_auth: auth.map(|(id, access_token, refresh_token, expires_at)| UserAuth {
            id,
            access_token,
            refresh_token,
            expires_at,
        }),
    })
}
