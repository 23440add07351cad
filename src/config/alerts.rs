//! `[alerts]` and an app's `alerts` override: every problem located (an unknown event, a bad
//! URL, an address that is none, SMTP settings an app's environment lacks), then resolved into
//! the app's `AlertSpec`.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use toml::Spanned;

use super::error::Diagnostic;
use super::raw::{OneOrMany, RawAlertRules, RawAlerts, RawAppAlerts};
use super::resolve::Context;
use super::units::parse_duration;
use crate::policy::AlertKind;
use crate::spec::{AlertSpec, RestartRate, WebhookFormat, WebhookSpec};

/// Alerts an hour per app, by default.
pub const MAX_PER_HOUR: u32 = 10;
/// The same event again within this is counted, not sent, by default.
pub const DEDUP: Duration = Duration::from_secs(10 * 60);
/// More than 5 restarts in 10 minutes raise `restarts`, by default.
pub const RESTART_RATE: RestartRate = RestartRate {
    count: 5,
    window: Duration::from_secs(10 * 60),
};
/// Online this long after a problem raises `recovered`, by default.
pub const RECOVERED_AFTER: Duration = Duration::from_secs(60);

/// The SMTP settings an email destination needs in the app's environment.
const SMTP_NEEDED: [&str; 2] = ["EMAIL_SERVER_HOST", "EMAIL_FROM"];

/// The file's `[alerts]`, checked: the rules every app starts from and the destinations.
pub struct FileAlerts {
    rules: Rules,
    webhooks: Vec<(WebhookSpec, Option<Spanned<String>>)>,
    commands: Vec<Vec<String>>,
    email: Option<(Vec<String>, std::ops::Range<usize>)>,
}

#[derive(Clone)]
struct Rules {
    events: Vec<AlertKind>,
    max_per_hour: u32,
    dedup: Duration,
    restart_rate: Option<RestartRate>,
    recovered_after: Duration,
}

/// Checks `[alerts]`; `None` when the file has none (or it is invalid: the diagnostics say).
pub fn file(
    raw: Option<Spanned<RawAlerts>>,
    cx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<FileAlerts> {
    let raw = raw?;
    let span = raw.span();
    let raw = raw.into_inner();
    let start = diags.len();
    let base = Rules {
        events: AlertKind::NAMED.to_vec(),
        max_per_hour: MAX_PER_HOUR,
        dedup: DEDUP,
        restart_rate: Some(RESTART_RATE),
        recovered_after: RECOVERED_AFTER,
    };
    let rules = rules(
        &base,
        RawAlertRules {
            events: raw.events,
            max_per_hour: raw.max_per_hour,
            dedup: raw.dedup,
            restart_rate: raw.restart_rate,
            recovered_after: raw.recovered_after,
        },
        cx,
        diags,
    );
    let mut webhooks = Vec::new();
    for w in raw.webhook {
        let at = w.span();
        let w = w.into_inner();
        let format = match &w.format {
            None => WebhookFormat::Json,
            Some(f) => match WebhookFormat::ALL.iter().find(|(n, _)| n == f.get_ref()) {
                Some((_, fmt)) => *fmt,
                None => {
                    diags.push(cx.locator.diagnostic(
                        f.span(),
                        format!(
                            "unknown webhook format {:?}; use one of json, slack, teams, discord",
                            f.get_ref()
                        ),
                    ));
                    WebhookFormat::Json
                }
            },
        };
        match (w.url, w.url_env) {
            (Some(url), None) => {
                if let Err(e) = check_url(url.get_ref()) {
                    diags.push(cx.locator.diagnostic(url.span(), e));
                }
                webhooks.push((
                    WebhookSpec {
                        url: Some(url.into_inner()),
                        url_env: None,
                        format,
                    },
                    None,
                ));
            }
            (None, Some(var)) => {
                if !is_var_name(var.get_ref()) {
                    diags.push(cx.locator.diagnostic(
                        var.span(),
                        "`url_env` names an environment variable, such as SLACK_WEBHOOK_URL",
                    ));
                }
                webhooks.push((
                    WebhookSpec {
                        url: None,
                        url_env: Some(var.get_ref().clone()),
                        format,
                    },
                    Some(var),
                ));
            }
            _ => diags.push(cx.locator.diagnostic(
                at,
                "a webhook needs `url` (the address) or `url_env` (the variable that holds it), one of them",
            )),
        }
    }
    let mut commands = Vec::new();
    for c in raw.command {
        let span = c.get_ref().run.span();
        let run = OneOrMany::strings(c.into_inner().run);
        if run.first().is_none_or(|p| p.trim().is_empty()) {
            diags.push(cx.locator.diagnostic(
                span,
                "`run` is the program to run and its arguments, e.g. [\"/usr/local/bin/notify\", \"--team\", \"qa\"]",
            ));
        }
        commands.push(run);
    }
    let email = raw.email.map(|e| {
        let span = e.span();
        let to = OneOrMany::into_vec(e.into_inner().to);
        if to.is_empty() {
            diags.push(
                cx.locator
                    .diagnostic(span.clone(), "`to` needs at least one address"),
            );
        }
        for addr in &to {
            if let Err(e) = lettre::Address::from_str(addr.get_ref().trim()) {
                diags.push(cx.locator.diagnostic(
                    addr.span(),
                    format!("{:?} is not an email address: {e}", addr.get_ref()),
                ));
            }
        }
        (to.into_iter().map(Spanned::into_inner).collect(), span)
    });
    if webhooks.is_empty() && commands.is_empty() && email.is_none() {
        diags.push(cx.locator.diagnostic(
            span,
            "[alerts] names no destination: add [[alerts.webhook]], [[alerts.command]] or [alerts.email]",
        ));
    }
    (diags.len() == start).then_some(FileAlerts {
        rules,
        webhooks,
        commands,
        email,
    })
}

/// One app's alerts: the file's, with the app's own rules over them, and checked against its
/// environment (the SMTP settings an email needs, a webhook's `url_env`).
pub fn for_app(
    file: Option<&FileAlerts>,
    own: Option<Spanned<RawAppAlerts>>,
    app: &str,
    env: &BTreeMap<String, String>,
    cx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<AlertSpec> {
    let rules = match own.map(Spanned::into_inner) {
        Some(RawAppAlerts::Off) => return None,
        Some(RawAppAlerts::Rules(r)) => {
            let base = file.map(|f| f.rules.clone())?;
            rules(&base, r, cx, diags)
        }
        None => file?.rules.clone(),
    };
    let file = file?;
    let has = |var: &str| env.get(var).is_some_and(|v| !v.trim().is_empty());
    if let Some((_, span)) = &file.email {
        let missing: Vec<&str> = SMTP_NEEDED.into_iter().filter(|v| !has(v)).collect();
        if !missing.is_empty() {
            diags.push(cx.locator.diagnostic(
                span.clone(),
                format!(
                    "[alerts.email]: app {app} has no {} in its environment: email alerts go through the SMTP settings TestPlanIt's email worker reads (EMAIL_SERVER_HOST, EMAIL_SERVER_PORT, EMAIL_SERVER_USER, EMAIL_SERVER_PASSWORD, EMAIL_FROM); set them in an env_file of [defaults], or `alerts = false` for the app",
                    missing.join(", ")
                ),
            ));
        } else if let Some(from) = env.get("EMAIL_FROM")
            && lettre::Address::from_str(from.trim()).is_err()
        {
            diags.push(cx.locator.diagnostic(
                span.clone(),
                format!("[alerts.email]: app {app}'s EMAIL_FROM is not an email address"),
            ));
        }
    }
    for var in file.webhooks.iter().filter_map(|(_, var)| var.as_ref()) {
        match env.get(var.get_ref()).filter(|v| !v.trim().is_empty()) {
            None => diags.push(cx.locator.diagnostic(
                var.span(),
                format!(
                    "app {app} has no {} in its environment for this webhook's URL; set it in an env_file",
                    var.get_ref()
                ),
            )),
            Some(url) => {
                if let Err(e) = check_url(url) {
                    diags.push(cx.locator.diagnostic(
                        var.span(),
                        format!("app {app}: {}: {e}", var.get_ref()),
                    ));
                }
            }
        }
    }
    Some(AlertSpec {
        events: rules.events,
        max_per_hour: rules.max_per_hour,
        dedup: rules.dedup,
        restart_rate: rules.restart_rate,
        recovered_after: rules.recovered_after,
        webhooks: file.webhooks.iter().map(|(w, _)| w.clone()).collect(),
        commands: file.commands.clone(),
        email_to: file
            .email
            .as_ref()
            .map(|(to, _)| to.clone())
            .unwrap_or_default(),
    })
}

/// `base` with what `raw` sets over it.
fn rules(base: &Rules, raw: RawAlertRules, cx: &Context<'_>, diags: &mut Vec<Diagnostic>) -> Rules {
    let mut out = base.clone();
    if let Some(events) = raw.events {
        out.events = Vec::new();
        for e in events {
            match AlertKind::NAMED.iter().find(|k| k.as_str() == e.get_ref()) {
                Some(k) => out.events.push(*k),
                None => diags.push(cx.locator.diagnostic(
                    e.span(),
                    format!(
                        "unknown alert event {:?}; the events are {}",
                        e.get_ref(),
                        AlertKind::NAMED.map(AlertKind::as_str).join(", ")
                    ),
                )),
            }
        }
    }
    if let Some(m) = raw.max_per_hour {
        if *m.get_ref() == 0 {
            diags.push(cx.locator.diagnostic(
                m.span(),
                "`max_per_hour` must be at least 1 (turn alerts off with `events = []`)",
            ));
        }
        out.max_per_hour = *m.get_ref();
    }
    if let Some(d) = raw.dedup {
        out.dedup = d.0;
    }
    if let Some(r) = raw.recovered_after {
        out.recovered_after = r.0;
    }
    if let Some(rate) = raw.restart_rate {
        match parse_rate(rate.get_ref()) {
            Ok(r) => out.restart_rate = r,
            Err(e) => diags.push(cx.locator.diagnostic(rate.span(), e)),
        }
    }
    out
}

/// `"5/10m"` → 5 restarts per 10 minutes; `"off"` → none.
fn parse_rate(text: &str) -> Result<Option<RestartRate>, String> {
    if text == "off" {
        return Ok(None);
    }
    let bad = || {
        format!(
            "invalid restart_rate {text:?}: write COUNT/WINDOW, e.g. \"5/10m\" (more than 5 restarts within 10 minutes), or \"off\""
        )
    };
    let (count, window) = text.split_once('/').ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    let window = parse_duration(window.trim()).map_err(|_| bad())?;
    if count == 0 || window.is_zero() {
        return Err(bad());
    }
    Ok(Some(RestartRate { count, window }))
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid webhook URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "invalid webhook URL {}: it must be http:// or https:// with a host",
            redacted_url(url)
        ));
    }
    Ok(())
}

/// A URL with its path and query hidden (a Slack webhook's path is its secret).
pub fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}/…",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "<not a URL>".into(),
    }
}

fn is_var_name(v: &str) -> bool {
    !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_rates_read_as_count_per_window() {
        assert_eq!(
            parse_rate("3/1m"),
            Ok(Some(RestartRate {
                count: 3,
                window: Duration::from_secs(60)
            }))
        );
        assert_eq!(parse_rate("off"), Ok(None));
        for bad in ["3", "0/1m", "x/1m", "3/", "3/0s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhook_urls_must_be_http_with_a_host_and_are_shown_without_their_path() {
        assert!(check_url("https://hooks.slack.com/services/T0/B0/secret").is_ok());
        assert!(check_url("ftp://example.com/x").is_err());
        assert!(check_url("not a url").is_err());
        assert_eq!(
            redacted_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
    }
}
