//! What a destination gets: the alert as JSON, as a Slack, Teams or Discord message, as an
//! email's subject and text, as a command's environment.

use serde_json::{Value, json};

use super::Alert;
use crate::policy::AlertKind;
use crate::spec::WebhookFormat;

/// The alert in a few lines of plain text (email body, chat messages).
pub fn text(a: &Alert) -> String {
    let mut lines = vec![a.detail.clone()];
    if let Some(l) = &a.last_error
        && !a.detail.contains(l.as_str())
    {
        lines.push(format!("last error: {l}"));
    }
    lines.push(format!(
        "status {}, {} restarts; at {} on {}",
        a.status,
        a.restarts,
        crate::render::rfc3339_millis(a.at_ms),
        a.host
    ));
    if a.held_back > 0 {
        lines.push(format!(
            "{} more alerts of this app were held back since the last one (dedup, max_per_hour)",
            a.held_back
        ));
    }
    if a.kind != AlertKind::Test {
        lines.push(format!("tpctl describe {}", a.app));
    }
    lines.join("\n")
}

/// The generic JSON body, also a command's stdin.
pub fn json(a: &Alert) -> Value {
    json!({
        "source": "tpctl",
        "event": a.kind.as_str(),
        "app": a.app,
        "host": a.host,
        "at": crate::render::rfc3339_millis(a.at_ms),
        "status": a.status,
        "summary": a.summary,
        "detail": a.detail,
        "last_error": a.last_error,
        "restarts": a.restarts,
        "held_back": a.held_back,
    })
}

/// A webhook's body in its format.
pub fn webhook_body(a: &Alert, format: WebhookFormat) -> Value {
    match format {
        WebhookFormat::Json => json(a),
        WebhookFormat::Slack => json!({ "text": format!("*{}*\n{}", a.summary, text(a)) }),
        // Discord refuses content over 2000 characters.
        WebhookFormat::Discord => {
            let content: String = format!("**{}**\n{}", a.summary, text(a))
                .chars()
                .take(2000)
                .collect();
            json!({ "content": content })
        }
        WebhookFormat::Teams => json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": a.summary,
            "themeColor": if a.kind == AlertKind::Recovered { "2EB67D" } else { "E01E5A" },
            "title": a.summary,
            // Teams renders a line break only from a blank line.
            "text": text(a).replace('\n', "\n\n"),
        }),
    }
}

/// An email's subject.
pub fn subject(a: &Alert) -> String {
    format!("[tpctl] {}", a.summary)
}

/// The variables a command destination gets besides the JSON on its stdin.
pub fn command_env(a: &Alert) -> [(&'static str, String); 4] {
    [
        ("TPCTL_ALERT_EVENT", a.kind.as_str().to_string()),
        ("TPCTL_ALERT_APP", a.app.clone()),
        ("TPCTL_ALERT_HOST", a.host.clone()),
        ("TPCTL_ALERT_SUMMARY", a.summary.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            kind: AlertKind::Errored,
            app: "email-worker".into(),
            host: "web-1".into(),
            at_ms: 1_795_869_296_000,
            status: "errored".into(),
            summary: "email-worker on web-1: is errored".into(),
            detail: "crash loop: 16 consecutive runs shorter than min_uptime".into(),
            last_error: Some("VALKEY_URL is not set".into()),
            restarts: 16,
            held_back: 3,
            delivered: vec![],
        }
    }

    #[test]
    fn each_format_carries_the_summary_and_the_details() {
        let a = alert();
        let slack = webhook_body(&a, WebhookFormat::Slack);
        let text = slack["text"].as_str().unwrap_or_default();
        assert!(
            text.starts_with("*email-worker on web-1: is errored*\n"),
            "{text}"
        );
        assert!(text.contains("last error: VALKEY_URL is not set"), "{text}");
        assert!(text.contains("3 more alerts"), "{text}");
        let teams = webhook_body(&a, WebhookFormat::Teams);
        assert_eq!(teams["@type"], "MessageCard");
        assert_eq!(teams["title"], a.summary);
        let discord = webhook_body(&a, WebhookFormat::Discord);
        assert!(
            discord["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("**email-worker"))
        );
        let j = webhook_body(&a, WebhookFormat::Json);
        assert_eq!(j["event"], "errored");
        assert_eq!(j["at"], "2026-11-28T12:34:56.000Z");
    }
}
