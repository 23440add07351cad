//! The raw serde model of ecosystem.toml: exactly what the file may say, nothing resolved.
//!
//! `deny_unknown_fields` everywhere, so a typo is an error at its line instead of a silently
//! ignored setting (PM2 ignores unknown keys). Semantic checks live in `resolve.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::units::{ByteSize, DurationValue, SignalValue, de_size};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Settings every app inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Option<RawSettings>,
    /// The apps, in file order.
    #[serde(default)]
    pub apps: Vec<RawApp>,
    /// Where alerts go and which events raise them.
    #[serde(default)]
    pub alerts: Option<Spanned<RawAlerts>>,
}

/// `[alerts]`: the rules (which an app's `alerts` table may override) and the destinations.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub events: Option<Vec<Spanned<String>>>,
    pub max_per_hour: Option<Spanned<u32>>,
    pub dedup: Option<DurationValue>,
    pub restart_rate: Option<Spanned<String>>,
    pub recovered_after: Option<DurationValue>,
    #[serde(default)]
    pub webhook: Vec<Spanned<RawWebhook>>,
    #[serde(default)]
    pub command: Vec<Spanned<RawCommand>>,
    pub email: Option<Spanned<RawEmail>>,
}

/// `[[alerts.webhook]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: Option<Spanned<String>>,
    pub url_env: Option<Spanned<String>>,
    pub format: Option<Spanned<String>>,
}

/// `[[alerts.command]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    pub run: Spanned<OneOrMany>,
}

/// `[alerts.email]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub to: Spanned<OneOrMany>,
}

/// An app's `alerts`: `false` (none for this app) or a table of rules overriding `[alerts]`'s.
#[derive(Debug)]
pub enum RawAppAlerts {
    Off,
    Rules(RawAlertRules),
}

/// The rules an app may override.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertRules {
    pub events: Option<Vec<Spanned<String>>>,
    pub max_per_hour: Option<Spanned<u32>>,
    pub dedup: Option<DurationValue>,
    pub restart_rate: Option<Spanned<String>>,
    pub recovered_after: Option<DurationValue>,
}

impl<'de> Deserialize<'de> for RawAppAlerts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawAppAlerts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "false, or a table such as { events = [\"errored\"], max_per_hour = 5 }",
                )
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawAppAlerts, E> {
                if v {
                    Err(E::custom(
                        "`alerts = true` says nothing: apps get [alerts] by default; write `alerts = false` to turn them off, or a table of rules",
                    ))
                } else {
                    Ok(RawAppAlerts::Off)
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawAppAlerts, A::Error> {
                RawAlertRules::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawAppAlerts::Rules)
            }
        }
        d.deserialize_any(V)
    }
}

/// A value that may be written as one string or as an array of strings; array items keep their
/// own spans so a bad item is reported where it stands.
#[derive(Debug)]
pub enum OneOrMany {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl OneOrMany {
    /// The values in order; a single string takes the span of the whole field.
    pub fn into_vec(field: Spanned<OneOrMany>) -> Vec<Spanned<String>> {
        let span = field.span();
        match field.into_inner() {
            OneOrMany::One(s) => vec![Spanned::new(span, s)],
            OneOrMany::Many(v) => v,
        }
    }

    /// The values without spans.
    pub fn strings(field: Spanned<OneOrMany>) -> Vec<String> {
        Self::into_vec(field)
            .into_iter()
            .map(Spanned::into_inner)
            .collect()
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    items.push(item);
                }
                Ok(OneOrMany::Many(items))
            }
        }
        d.deserialize_any(V)
    }
}

/// `env_file = ".env"` (must exist) or `env_file = { path = ".env", optional = true }`.
#[derive(Debug, Clone)]
pub struct EnvFile {
    pub path: String,
    /// A missing optional file is skipped; a present one must still parse.
    pub optional: bool,
}

impl<'de> Deserialize<'de> for EnvFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            path: String,
            #[serde(default)]
            optional: bool,
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = EnvFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a path, or a table { path = \".env\", optional = true }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EnvFile, E> {
                Ok(EnvFile {
                    path: v.to_string(),
                    optional: false,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<EnvFile, A::Error> {
                let t = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(EnvFile {
                    path: t.path,
                    optional: t.optional,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// An env value: TOML strings, integers, floats and booleans are all passed as their text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl EnvValue {
    /// The text the app sees in its environment.
    pub fn into_text(self) -> String {
        match self {
            EnvValue::Text(s) => s,
            EnvValue::Integer(i) => i.to_string(),
            EnvValue::Float(f) => f.to_string(),
            EnvValue::Bool(b) => b.to_string(),
        }
    }
}

/// Keys allowed both in `[defaults]` and in an app.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub cwd: Option<Spanned<String>>,
    pub env: Option<BTreeMap<String, EnvValue>>,
    pub env_file: Option<Spanned<EnvFile>>,
    pub autorestart: Option<bool>,
    pub autostart: Option<bool>,
    pub cron_restart: Option<Spanned<String>>,
    pub max_restarts: Option<u32>,
    pub min_uptime: Option<DurationValue>,
    pub restart_delay: Option<DurationValue>,
    pub exp_backoff_restart_delay: Option<DurationValue>,
    #[serde(default, deserialize_with = "de_opt_size")]
    pub max_memory_restart: Option<ByteSize>,
    pub kill_timeout: Option<DurationValue>,
    pub kill_signal: Option<SignalValue>,
    pub stop_exit_codes: Option<Vec<i32>>,
    pub merge_logs: Option<bool>,
    pub time: Option<bool>,
    pub log_date_format: Option<String>,
    #[serde(default, deserialize_with = "de_opt_size")]
    pub log_max_size: Option<ByteSize>,
    pub log_keep: Option<u32>,
    pub log_compress: Option<bool>,
    pub log_rotate: Option<Spanned<String>>,
    pub notify: Option<Spanned<bool>>,
    pub ready_timeout: Option<Spanned<DurationValue>>,
    pub watchdog: Option<Spanned<DurationValue>>,
    pub restart_when_not_consuming: Option<Spanned<DurationValue>>,
    pub user: Option<Spanned<NameOrId>>,
    pub group: Option<Spanned<NameOrId>>,
    pub groups: Option<Spanned<Vec<NameOrId>>>,
    pub umask: Option<Spanned<UmaskValue>>,
    pub no_new_privileges: Option<bool>,
    pub limit_nofile: Option<Spanned<LimitValue>>,
    pub limit_core: Option<Spanned<LimitValue>>,
    pub limit_nproc: Option<Spanned<LimitValue>>,
}

/// A user or group: its name or its numeric id.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NameOrId {
    Id(u32),
    Name(String),
}

/// `umask`: a string of octal digits ("0027"), or a TOML octal number (0o027).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum UmaskValue {
    Number(u32),
    Text(String),
}

/// A `limit_*` value: a number, "unlimited", or "soft:hard".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LimitValue {
    Number(u64),
    Text(String),
}

/// An app's `health` table: one check kind and its timing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub http: Option<String>,
    pub tcp: Option<String>,
    pub exec: Option<Vec<String>>,
    pub every: Option<DurationValue>,
    pub timeout: Option<DurationValue>,
    pub retries: Option<u32>,
    pub grace: Option<DurationValue>,
    pub restart: Option<bool>,
}

/// One `[[apps]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    pub name: Spanned<String>,
    pub script: Spanned<String>,
    pub args: Option<Spanned<OneOrMany>>,
    pub instances: Option<Spanned<u32>>,
    pub after: Option<Spanned<OneOrMany>>,
    pub queue: Option<Spanned<OneOrMany>>,
    pub concurrency: Option<Spanned<u32>>,
    pub concurrency_env: Option<Spanned<String>>,
    pub out_file: Option<String>,
    pub error_file: Option<String>,
    pub cwd: Option<Spanned<String>>,
    pub env: Option<BTreeMap<String, EnvValue>>,
    pub env_file: Option<Spanned<EnvFile>>,
    pub autorestart: Option<bool>,
    pub autostart: Option<bool>,
    pub cron_restart: Option<Spanned<String>>,
    pub max_restarts: Option<u32>,
    pub min_uptime: Option<DurationValue>,
    pub restart_delay: Option<DurationValue>,
    pub exp_backoff_restart_delay: Option<DurationValue>,
    #[serde(default, deserialize_with = "de_opt_size")]
    pub max_memory_restart: Option<ByteSize>,
    pub kill_timeout: Option<DurationValue>,
    pub kill_signal: Option<SignalValue>,
    pub stop_exit_codes: Option<Vec<i32>>,
    pub merge_logs: Option<bool>,
    pub time: Option<bool>,
    pub log_date_format: Option<String>,
    #[serde(default, deserialize_with = "de_opt_size")]
    pub log_max_size: Option<ByteSize>,
    pub log_keep: Option<u32>,
    pub log_compress: Option<bool>,
    pub log_rotate: Option<Spanned<String>>,
    pub alerts: Option<Spanned<RawAppAlerts>>,
    pub health: Option<Spanned<RawHealth>>,
    pub notify: Option<Spanned<bool>>,
    pub ready_timeout: Option<Spanned<DurationValue>>,
    pub watchdog: Option<Spanned<DurationValue>>,
    pub restart_when_not_consuming: Option<Spanned<DurationValue>>,
    pub user: Option<Spanned<NameOrId>>,
    pub group: Option<Spanned<NameOrId>>,
    pub groups: Option<Spanned<Vec<NameOrId>>>,
    pub umask: Option<Spanned<UmaskValue>>,
    pub no_new_privileges: Option<bool>,
    pub limit_nofile: Option<Spanned<LimitValue>>,
    pub limit_core: Option<Spanned<LimitValue>>,
    pub limit_nproc: Option<Spanned<LimitValue>>,
}

fn de_opt_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ByteSize>, D::Error> {
    de_size(d).map(Some)
}
