//! What an email says about one notification (spec §4): the title and message in the user's
//! language, the deep link into the web app, the extra footer line of milestone reminders and
//! a system announcement's own HTML. Pure: a notification row in, text out.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::i18n::{Arg, Locale, long_time, short_date, t};
use super::tiptap;

/// A `"Notification"` row as the email worker reads it.
#[derive(Debug, Clone)]
pub struct Notice {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub message: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// One notification as it appears in an email.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub title: String,
    pub message: String,
    /// The deep link, absolute.
    pub link: Option<String>,
    /// An extra line above the footer (milestone reminders say why they come).
    pub reason: Option<String>,
    /// HTML to show instead of the message (system announcements).
    pub html: Option<String>,
    /// When it happened, in words.
    pub when: String,
}

const CONTENT: &str = "components.notifications.content";

fn key(name: &str) -> String {
    format!("{CONTENT}.{name}")
}

/// A data field as text: strings as they are, numbers without quotes.
fn field(data: &Value, name: &str) -> Option<String> {
    match data.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(crate::search::text::js_number(
            n.as_f64().unwrap_or(f64::NAN),
        )),
        _ => None,
    }
}

/// `/projects/<section>/<projectId>/<id>`, when both are there.
fn project_link(data: &Value, section: &str, id_field: &str) -> Option<String> {
    Some(format!(
        "/projects/{section}/{}/{}",
        field(data, "projectId")?,
        field(data, id_field)?
    ))
}

/// The path (after `/{locale}`) a notification leads to, when its data has every id needed.
fn path(kind: &str, data: &Value) -> Option<String> {
    match kind {
        "WORK_ASSIGNED" if data.get("isBulkAssignment") != Some(&Value::Bool(true)) => {
            let run = project_link(data, "runs", "testRunId")?;
            Some(format!("{run}?selectedCase={}", field(data, "testCaseId")?))
        }
        "SESSION_ASSIGNED" => project_link(data, "sessions", "sessionId"),
        "MILESTONE_DUE_REMINDER" => project_link(data, "milestones", "milestoneId"),
        "COMMENT_MENTION" if data.get("hasProjectAccess") == Some(&Value::Bool(true)) => {
            match data.get("entityType").and_then(Value::as_str)? {
                "RepositoryCase" => project_link(data, "repository", "repositoryCaseId"),
                "TestRun" => project_link(data, "runs", "testRunId"),
                "Session" => project_link(data, "sessions", "sessionId"),
                "Milestone" => project_link(data, "milestones", "milestoneId"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `{who} {did} "{what}" {inProject} "{project}"`, when every part is known.
fn assignment(
    l: Locale,
    data: &Value,
    who: &str,
    did: &str,
    what: Option<String>,
) -> Option<String> {
    Some(format!(
        "{} {} \"{}\" {} \"{}\"",
        field(data, who)?,
        t(l, &key(did), &[]),
        what?,
        t(l, &key("inProject"), &[]),
        field(data, "projectName")?
    ))
}

/// The translated title and message; `None` keeps the stored ones (a type without its own
/// words, or data lacking a name the sentence needs).
fn words(l: Locale, kind: &str, data: &Value) -> Option<(String, Option<String>)> {
    let title = |k: &str| t(l, &key(k), &[]);
    match kind {
        "WORK_ASSIGNED" if data.get("isBulkAssignment") == Some(&Value::Bool(true)) => {
            let count = data.get("count").and_then(Value::as_f64).unwrap_or(0.0);
            let message = field(data, "assignedByName").map(|who| {
                let did = t(
                    l,
                    &key("assignedMultipleTestCases"),
                    &[("count", Arg::Number(count))],
                );
                format!("{who} {did}")
            });
            Some((title("multipleTestCaseAssignmentTitle"), message))
        }
        "WORK_ASSIGNED" => Some((
            title("testCaseAssignmentTitle"),
            assignment(
                l,
                data,
                "assignedByName",
                "assignedTestCase",
                field(data, "testCaseName"),
            ),
        )),
        "SESSION_ASSIGNED" => Some((
            title("sessionAssignmentTitle"),
            assignment(
                l,
                data,
                "assignedByName",
                "assignedSession",
                field(data, "sessionName").or_else(|| field(data, "entityName")),
            ),
        )),
        "COMMENT_MENTION" => Some((
            title("commentMentionTitle"),
            assignment(
                l,
                data,
                "creatorName",
                "mentionedYouInComment",
                field(data, "entityName"),
            ),
        )),
        "MILESTONE_DUE_REMINDER" => {
            let overdue = data.get("isOverdue") == Some(&Value::Bool(true));
            let due = field(data, "dueDate")
                .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
                .map(|d| short_date(l, d.with_timezone(&Utc)));
            let message = match (
                field(data, "milestoneName"),
                field(data, "projectName"),
                due,
            ) {
                (Some(m), Some(p), Some(d)) => Some(t(
                    l,
                    &key(if overdue {
                        "milestoneOverdue"
                    } else {
                        "milestoneDueSoon"
                    }),
                    &[
                        ("milestoneName", m.into()),
                        ("projectName", p.into()),
                        ("dueDate", d.into()),
                    ],
                )),
                _ => None,
            };
            let title = if overdue {
                "milestoneOverdueTitle"
            } else {
                "milestoneDueSoonTitle"
            };
            Some((t(l, &key(title), &[]), message))
        }
        _ => None,
    }
}

/// How `n` appears in an email to a user of locale `l` on the deployment at `base` (no
/// trailing slash). `announcements` is false in the digest, which shows no announcement HTML.
pub fn show(n: &Notice, l: Locale, base: &str, announcements: bool) -> Shown {
    let (title, message) = match words(l, &n.kind, &n.data) {
        Some((title, message)) => (title, message.unwrap_or_else(|| n.message.clone())),
        None => (n.title.clone(), n.message.clone()),
    };
    let mut shown = Shown {
        title,
        message,
        link: path(&n.kind, &n.data).map(|p| format!("{base}/{}{p}", l.url())),
        reason: None,
        html: None,
        when: long_time(l, n.created_at),
    };
    if n.kind == "MILESTONE_DUE_REMINDER" {
        shown.reason = Some(format!(
            "{} {}",
            t(l, &key("milestoneNotificationReason"), &[]),
            t(l, &key("milestoneNotificationContinue"), &[])
        ));
    }
    if n.kind == "SYSTEM_ANNOUNCEMENT" && announcements {
        shown.html = field(&n.data, "htmlContent").or_else(|| {
            n.data
                .get("richContent")
                .filter(|v| v.is_object())
                .map(tiptap::to_html)
        });
        if shown.html.is_none()
            && let Some(name) = field(&n.data, "sentByName")
        {
            let by = t(l, &key("sentBy"), &[("name", name.into())]);
            shown.message = format!("{}\n\n{by}", shown.message);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn notice(kind: &str, data: Value) -> Notice {
        Notice {
            id: "n1".into(),
            kind: kind.into(),
            title: "stored title".into(),
            message: "stored message".into(),
            data,
            created_at: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
        }
    }

    const BASE: &str = "https://tp.example.com";

    #[test]
    fn deep_links_by_type() {
        let link = |kind: &str, data: Value| show(&notice(kind, data), Locale::Fr, BASE, true).link;
        assert_eq!(
            link(
                "WORK_ASSIGNED",
                json!({"projectId": 3, "testRunId": 9, "testCaseId": 41})
            ),
            Some(format!("{BASE}/fr-FR/projects/runs/3/9?selectedCase=41"))
        );
        assert_eq!(
            link(
                "WORK_ASSIGNED",
                json!({"projectId": 3, "testRunId": 9, "testCaseId": 41, "isBulkAssignment": true})
            ),
            None
        );
        // Every id must be there.
        assert_eq!(
            link("WORK_ASSIGNED", json!({"projectId": 3, "testRunId": 9})),
            None
        );
        assert_eq!(
            link("SESSION_ASSIGNED", json!({"projectId": 3, "sessionId": 5})),
            Some(format!("{BASE}/fr-FR/projects/sessions/3/5"))
        );
        assert_eq!(
            link(
                "MILESTONE_DUE_REMINDER",
                json!({"projectId": 3, "milestoneId": 8})
            ),
            Some(format!("{BASE}/fr-FR/projects/milestones/3/8"))
        );
        for (entity, field, section) in [
            ("RepositoryCase", "repositoryCaseId", "repository"),
            ("TestRun", "testRunId", "runs"),
            ("Session", "sessionId", "sessions"),
            ("Milestone", "milestoneId", "milestones"),
        ] {
            let data =
                json!({"hasProjectAccess": true, "entityType": entity, "projectId": 2, field: 7});
            assert_eq!(
                link("COMMENT_MENTION", data.clone()),
                Some(format!("{BASE}/fr-FR/projects/{section}/2/7"))
            );
            let mut no_access = data;
            no_access["hasProjectAccess"] = false.into();
            assert_eq!(link("COMMENT_MENTION", no_access), None);
        }
        assert_eq!(link("USER_REGISTERED", json!({"projectId": 1})), None);
    }

    #[test]
    fn titles_and_messages_in_the_users_language() {
        let s = show(
            &notice(
                "WORK_ASSIGNED",
                json!({"assignedByName": "Ana", "testCaseName": "Login", "projectName": "Web"}),
            ),
            Locale::Es,
            BASE,
            true,
        );
        assert_eq!(s.title, "Se te ha asignado un caso de prueba");
        assert_eq!(
            s.message,
            "Ana te ha asignado el caso de prueba \"Login\" en el proyecto \"Web\""
        );
        let bulk = show(
            &notice(
                "WORK_ASSIGNED",
                json!({"assignedByName": "Ana", "isBulkAssignment": true, "count": 4}),
            ),
            Locale::En,
            BASE,
            true,
        );
        assert_eq!(bulk.message, "Ana assigned you 4 test cases");
        // A name missing from the data: the translated title, the stored message.
        let partial = show(
            &notice("SESSION_ASSIGNED", json!({"assignedByName": "Ana"})),
            Locale::En,
            BASE,
            true,
        );
        assert_eq!(partial.title, "A session was assigned to you");
        assert_eq!(partial.message, "stored message");
        // entityName stands in for sessionName.
        let session = show(
            &notice(
                "SESSION_ASSIGNED",
                json!({"assignedByName": "Ana", "entityName": "Explore", "projectName": "Web"}),
            ),
            Locale::En,
            BASE,
            true,
        );
        assert_eq!(
            session.message,
            "Ana assigned you the session \"Explore\" in project \"Web\""
        );
        // Other types keep what was stored.
        let other = show(
            &notice("USER_REGISTERED", json!({})),
            Locale::Fr,
            BASE,
            true,
        );
        assert_eq!(
            (other.title.as_str(), other.message.as_str()),
            ("stored title", "stored message")
        );
    }

    #[test]
    fn milestone_reminders_and_announcements() {
        let m = show(
            &notice(
                "MILESTONE_DUE_REMINDER",
                json!({"milestoneName": "v2", "projectName": "Web", "dueDate": "2026-03-10T12:00:00.000Z", "isOverdue": true}),
            ),
            Locale::En,
            BASE,
            true,
        );
        assert_eq!(m.title, "Milestone overdue");
        assert!(
            m.message
                .starts_with("Milestone \"v2\" in project \"Web\" was due on 3/"),
            "{}",
            m.message
        );
        assert!(m.reason.as_deref().is_some_and(|r| r.contains("daily")));

        let html = show(
            &notice(
                "SYSTEM_ANNOUNCEMENT",
                json!({"htmlContent": "<p>Hi</p>", "sentByName": "Ops"}),
            ),
            Locale::En,
            BASE,
            true,
        );
        assert_eq!(html.html.as_deref(), Some("<p>Hi</p>"));
        assert_eq!(html.message, "stored message");
        let rich = show(
            &notice(
                "SYSTEM_ANNOUNCEMENT",
                json!({"richContent": {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Down at 5"}]}]}}),
            ),
            Locale::En,
            BASE,
            true,
        );
        assert_eq!(rich.html.as_deref(), Some("<p>Down at 5</p>"));
        let plain = show(
            &notice("SYSTEM_ANNOUNCEMENT", json!({"sentByName": "Ops"})),
            Locale::Fr,
            BASE,
            true,
        );
        assert_eq!(plain.html, None);
        assert_eq!(plain.message, "stored message\n\nEnvoyé par Ops");
        // The digest shows no announcement HTML.
        let digest = show(
            &notice("SYSTEM_ANNOUNCEMENT", json!({"htmlContent": "<p>Hi</p>"})),
            Locale::En,
            BASE,
            false,
        );
        assert_eq!(digest.html, None);
    }
}
