//! An app's `health` table, checked whole: exactly one of `http`, `tcp`, `exec`; an http URL
//! (plain http: the check talks to the app on its own machine); windows that make sense.

use std::time::Duration;

use toml::Spanned;

use super::defaults;
use super::error::Diagnostic;
use super::raw::{RawApp, RawHealth, RawSettings};
use super::units::DurationValue;
use crate::spec::{HealthCheck, HealthSpec};

pub const EVERY: Duration = Duration::from_secs(10);
pub const TIMEOUT: Duration = Duration::from_secs(2);
pub const RETRIES: u32 = 3;
pub const GRACE: Duration = Duration::from_secs(30);

/// `host:port`, with `[v6]:port` for IPv6.
fn host_port(text: &str, what: &str) -> Result<(String, u16), String> {
    let (host, port) = text.rsplit_once(':').ok_or_else(|| {
        format!("{what} {text:?} has no port: write host:port, such as 127.0.0.1:6379")
    })?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{what} {text:?}: {port:?} is not a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{what} {text:?} has no host"));
    }
    Ok((host.to_string(), port))
}

fn http(url: &str) -> Result<HealthCheck, String> {
    if url.starts_with("https://") {
        return Err(format!(
            "health http {url:?}: https is not supported; check the app on its plain-http port (127.0.0.1)"
        ));
    }
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("health http {url:?} must start with http://, such as http://127.0.0.1:3000/health")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if authority.contains(':') {
        host_port(authority, "health http")?
    } else {
        (authority.to_string(), 80)
    };
    if host.is_empty() {
        return Err(format!("health http {url:?} has no host"));
    }
    Ok(HealthCheck::Http {
        host,
        port,
        path: path.to_string(),
    })
}

/// `restart_when_not_consuming`, the app's own else `[defaults]`': the app's without `queue`
/// (nothing to consume) or a window under the minimum is an error at that value; `[defaults]`'
/// applies to the apps that have a queue.
pub fn not_consuming_window<'a>(
    own: Option<&'a Spanned<DurationValue>>,
    default: Option<&'a Spanned<DurationValue>>,
    has_queue: bool,
) -> Result<Option<Duration>, (&'a Spanned<DurationValue>, String)> {
    if !has_queue {
        return match own {
            Some(v) => Err((
                v,
                "`restart_when_not_consuming` needs `queue`: name the queue or queues the app consumes".into(),
            )),
            None => Ok(None),
        };
    }
    let Some(v) = own.or(default) else {
        return Ok(None);
    };
    let min = crate::policy::consumption::MIN_WINDOW;
    if v.get_ref().0 < min {
        return Err((
            v,
            format!(
                "`restart_when_not_consuming` must be at least {}: a worker reconnecting after a blip takes a moment; such as \"2m\"",
                super::units::format_duration(min)
            ),
        ));
    }
    Ok(Some(v.get_ref().0))
}

/// The spec of a `health` table, or what is wrong with it.
pub fn resolve(raw: &RawHealth) -> Result<HealthSpec, String> {
    let kinds = [raw.http.is_some(), raw.tcp.is_some(), raw.exec.is_some()]
        .iter()
        .filter(|k| **k)
        .count();
    if kinds != 1 {
        return Err(
            "health needs exactly one check: http = \"http://127.0.0.1:3000/health\", tcp = \"127.0.0.1:6379\" or exec = [\"cmd\", \"arg\"]"
                .into(),
        );
    }
    let check = if let Some(u) = &raw.http {
        http(u)?
    } else if let Some(t) = &raw.tcp {
        let (host, port) = host_port(t, "health tcp")?;
        HealthCheck::Tcp { host, port }
    } else {
        let argv = raw.exec.clone().unwrap_or_default();
        if argv.first().is_none_or(|c| c.trim().is_empty()) {
            return Err("health exec needs a command: exec = [\"cmd\", \"arg\"]".into());
        }
        HealthCheck::Exec { argv }
    };
    let every = raw.every.map_or(EVERY, |d| d.0);
    let timeout = raw.timeout.map_or(TIMEOUT, |d| d.0);
    if every < Duration::from_millis(100) {
        return Err("health every must be at least 100ms, such as \"10s\"".into());
    }
    if timeout >= every {
        return Err(format!(
            "health timeout ({}) must be shorter than every ({}): a check must end before the next",
            super::units::format_duration(timeout),
            super::units::format_duration(every)
        ));
    }
    let retries = raw.retries.unwrap_or(RETRIES);
    if retries == 0 {
        return Err("health retries must be at least 1".into());
    }
    Ok(HealthSpec {
        check,
        every,
        timeout,
        retries,
        grace: raw.grace.map_or(GRACE, |d| d.0),
        restart: raw.restart.unwrap_or(true),
    })
}

fn diag<T>(
    cx: &super::resolve::Context<'_>,
    at: &Spanned<T>,
    message: impl Into<String>,
) -> Diagnostic {
    cx.locator.diagnostic(at.span(), message)
}

/// `notify`, `ready_timeout` and `watchdog` (the app's, else `[defaults]`'s); an app's timing
/// keys without `notify = true`, or a window under 100ms, are located errors.
pub(super) fn notify_spec(
    app: &RawApp,
    defaults: &RawSettings,
    cx: &super::resolve::Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<crate::spec::NotifySpec> {
    let on = app
        .notify
        .as_ref()
        .or(defaults.notify.as_ref())
        .is_some_and(|n| *n.get_ref());
    let ready = app
        .ready_timeout
        .as_ref()
        .or(defaults.ready_timeout.as_ref());
    let watchdog = app.watchdog.as_ref().or(defaults.watchdog.as_ref());
    if !on {
        // An app's own keys without notify are a mistake; [defaults]' apply to the apps that
        // notify and leave the others alone.
        for (key, field) in [
            ("ready_timeout", app.ready_timeout.as_ref()),
            ("watchdog", app.watchdog.as_ref()),
        ] {
            if let Some(f) = field {
                diags.push(diag(
                    cx,
                    f,
                    format!("`{key}` needs `notify = true`: without it the app sends no READY or WATCHDOG messages to time"),
                ));
            }
        }
        return None;
    }
    for (key, field) in [("ready_timeout", ready), ("watchdog", watchdog)] {
        if let Some(f) = field.filter(|f| f.get_ref().0 < Duration::from_millis(100)) {
            diags.push(diag(
                cx,
                f,
                format!("`{key}` must be at least 100ms, such as \"30s\""),
            ));
        }
    }
    Some(crate::spec::NotifySpec {
        ready_timeout: ready.map_or(defaults::READY_TIMEOUT, |r| r.get_ref().0),
        watchdog: watchdog.map(|w| w.get_ref().0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::DurationValue;

    fn raw() -> RawHealth {
        RawHealth {
            http: None,
            tcp: None,
            exec: None,
            every: None,
            timeout: None,
            retries: None,
            grace: None,
            restart: None,
        }
    }

    #[test]
    fn one_kind_with_its_target_and_sane_windows() {
        let h = resolve(&RawHealth {
            http: Some("http://127.0.0.1:3000/health?deep=1".into()),
            ..raw()
        })
        .expect("valid");
        assert_eq!(
            h.check,
            HealthCheck::Http {
                host: "127.0.0.1".into(),
                port: 3000,
                path: "/health?deep=1".into()
            }
        );
        assert_eq!(
            (h.every, h.timeout, h.retries, h.restart),
            (EVERY, TIMEOUT, 3, true)
        );
        for (bad, says) in [
            (RawHealth { ..raw() }, "exactly one check"),
            (
                RawHealth {
                    tcp: Some("x".into()),
                    http: Some("http://a/".into()),
                    ..raw()
                },
                "exactly one check",
            ),
            (
                RawHealth {
                    tcp: Some("127.0.0.1".into()),
                    ..raw()
                },
                "has no port",
            ),
            (
                RawHealth {
                    http: Some("https://a/".into()),
                    ..raw()
                },
                "https is not supported",
            ),
            (
                RawHealth {
                    http: Some("ftp://a/".into()),
                    ..raw()
                },
                "must start with http://",
            ),
            (
                RawHealth {
                    exec: Some(vec![]),
                    ..raw()
                },
                "needs a command",
            ),
            (
                RawHealth {
                    tcp: Some("127.0.0.1:1".into()),
                    every: Some(DurationValue(Duration::from_secs(1))),
                    timeout: Some(DurationValue(Duration::from_secs(2))),
                    ..raw()
                },
                "must be shorter than every",
            ),
        ] {
            let e = resolve(&bad).expect_err(says);
            assert!(e.contains(says), "{e}");
        }
    }
}
