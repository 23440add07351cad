//! What a worker reads from its environment (spec §1, §2, §13).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// True for `true` or `1`, as TestPlanIt reads its flags.
pub fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.trim(), "true" | "1"))
}

/// A variable that is set to something other than blanks.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A number from the environment: `default` when unset; when set but not a number `accept`
/// takes, `default` too, with a warning saying what was `expected`.
pub fn number<T>(name: &str, default: T, accept: impl Fn(&T) -> bool, expected: &str) -> T
where
    T: std::str::FromStr + std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => match v.trim().parse::<T>() {
            Ok(n) if accept(&n) => n,
            _ => {
                tracing::warn!("{name}={v:?} is not {expected}; using {default}");
                default
            }
        },
        Err(_) => default,
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: Option<String>,
    pub valkey_url: Option<String>,
    /// BullMQ's key prefix (`BULLMQ_PREFIX`, default `bull`), as the web app uses it.
    pub prefix: String,
    pub multi_tenant: bool,
}

impl Config {
    pub fn from_env() -> Result<Config, tp_bullmq::keys::PrefixError> {
        Ok(Config {
            database_url: var("DATABASE_URL"),
            valkey_url: var("VALKEY_URL"),
            prefix: tp_bullmq::keys::prefix_from_env()?,
            multi_tenant: flag("MULTI_TENANT_MODE"),
        })
    }

    pub fn mode(&self) -> &'static str {
        if self.multi_tenant {
            "MULTI-TENANT"
        } else {
            "SINGLE-TENANT"
        }
    }
}

/// One tenant's settings (spec §2.2): its database, base URL and search server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub database_url: String,
    #[serde(default)]
    pub base_url: Option<String>,
    /// The tenant's own search server (TestPlanIt reads it but always uses the global one).
    #[serde(default)]
    pub elasticsearch_node: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("cannot read tenant configuration {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "tenant configuration {what} is not valid JSON of the form {{\"<id>\": {{\"databaseUrl\": ...}}}}: {reason}"
    )]
    Parse { what: String, reason: String },
}

/// The tenants, read afresh (TestPlanIt reloads them for every job): the JSON file
/// `TENANT_CONFIG_FILE` (default /config/tenants.json; absent is fine), overridden by the JSON
/// in `TENANT_CONFIGS`, then `TENANT_<ID>_DATABASE_URL` (and `_BASE_URL`) for ids not yet
/// defined, the id being `<ID>` lowercased.
pub fn tenants() -> Result<BTreeMap<String, Tenant>, TenantError> {
    let path =
        PathBuf::from(var("TENANT_CONFIG_FILE").unwrap_or_else(|| "/config/tenants.json".into()));
    let mut out: BTreeMap<String, Tenant> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| TenantError::Parse {
            what: path.display().to_string(),
            reason: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(source) => return Err(TenantError::Read { path, source }),
    };
    if let Some(text) = var("TENANT_CONFIGS") {
        let more: BTreeMap<String, Tenant> =
            serde_json::from_str(&text).map_err(|e| TenantError::Parse {
                what: "TENANT_CONFIGS".into(),
                reason: e.to_string(),
            })?;
        out.extend(more);
    }
    for (k, v) in std::env::vars() {
        let Some(id) = k
            .strip_prefix("TENANT_")
            .and_then(|r| r.strip_suffix("_DATABASE_URL"))
        else {
            continue;
        };
        let id = id.to_lowercase();
        if id.is_empty() || out.contains_key(&id) || v.trim().is_empty() {
            continue;
        }
        let base_url = var(&format!("TENANT_{}_BASE_URL", id.to_uppercase()));
        let elasticsearch_node = var(&format!("TENANT_{}_ELASTICSEARCH_NODE", id.to_uppercase()));
        out.insert(
            id,
            Tenant {
                database_url: v,
                base_url,
                elasticsearch_node,
            },
        );
    }
    Ok(out)
}
