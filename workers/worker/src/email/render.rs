//! The notification and digest emails as HTML and plain text, from our own templates: a
//! simple single-column layout that mail clients render alike (inline styles, tables only
//! for the button), and a text part that says the same with the links written out.

use chrono::{Datelike, Local};

use super::content::Shown;
use super::i18n::{Arg, Locale, t};
use super::tiptap::escape;

/// A message ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Who the email is for and where the web app is.
pub struct Recipient<'a> {
    pub user_id: &'a str,
    pub name: Option<&'a str>,
    pub locale: Locale,
    /// The deployment's base URL, without a trailing slash.
    pub base: &'a str,
}

impl Recipient<'_> {
    fn greeting(&self) -> String {
        match self.name.filter(|n| !n.trim().is_empty()) {
            Some(name) => t(
                self.locale,
                "email.greetingWithName",
                &[("name", name.into())],
            ),
            None => t(self.locale, "email.greeting", &[]),
        }
    }

    fn all_notifications(&self) -> String {
        format!("{}/{}?openNotifications=true", self.base, self.locale.url())
    }

    fn preferences(&self) -> String {
        format!(
            "{}/{}/users/profile/{}",
            self.base,
            self.locale.url(),
            self.user_id
        )
    }
}

/// Plain text as HTML paragraphs, line breaks kept.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|p| {
            format!(
                "<p style=\"margin: 0 0 12px;\">{}</p>",
                escape(p).replace('\n', "<br>")
            )
        })
        .collect()
}

fn button(href: &str, label: &str) -> String {
    format!(
        "<table role=\"presentation\" cellspacing=\"0\" cellpadding=\"0\" style=\"margin: 16px 0;\"><tr>\
         <td style=\"background: #6d28d9; border-radius: 6px;\">\
         <a href=\"{}\" style=\"display: inline-block; padding: 10px 18px; color: #ffffff; text-decoration: none; font-weight: 600;\">{}</a>\
         </td></tr></table>",
        escape(href),
        escape(label)
    )
}

/// The page around `body`: logo, greeting, body, the links to all notifications and to the
/// preferences, the footer.
fn layout(r: &Recipient, subject: &str, body: &str, footer_extra: &str) -> String {
    let l = r.locale;
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\
         <body style=\"margin: 0; padding: 24px; background: #f4f4f5; font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #18181b;\">\
         <div style=\"max-width: 600px; margin: 0 auto; background: #ffffff; border-radius: 8px; padding: 24px;\">\
         <img src=\"{logo}\" alt=\"TestPlanIt\" width=\"48\" height=\"48\" style=\"display: block; margin-bottom: 16px;\">\
         <p style=\"margin: 0 0 12px;\">{greeting}</p>{body}\
         <p style=\"margin: 16px 0 0;\"><a href=\"{all}\" style=\"color: #6d28d9;\">{view_all}</a></p>\
         <hr style=\"border: none; border-top: 1px solid #e4e4e7; margin: 24px 0 12px;\">\
         <div style=\"font-size: 12px; color: #71717a;\">{footer_extra}\
         <p style=\"margin: 0 0 6px;\">{sent_by}</p>\
         <p style=\"margin: 0 0 6px;\">{unsubscribe} <a href=\"{prefs}\" style=\"color: #71717a;\">{manage}</a></p>\
         <p style=\"margin: 0;\">&copy; {year} TestPlanIt. {rights}</p></div></div></body></html>\n",
        lang = l.url(),
        title = escape(subject),
        logo = escape(&format!("{}/tpi_logo_square.png", r.base)),
        greeting = escape(&r.greeting()),
        all = escape(&r.all_notifications()),
        view_all = escape(&t(l, "email.notification.viewAll", &[])),
        sent_by = escape(&t(l, "email.footer.sentBy", &[])),
        unsubscribe = escape(&t(l, "email.footer.unsubscribe", &[])),
        prefs = escape(&r.preferences()),
        manage = escape(&t(l, "email.footer.managePreferences", &[])),
        year = Local::now().year(),
        rights = escape(&t(l, "email.footer.allRightsReserved", &[])),
    )
}

fn text_footer(r: &Recipient, extra: &str) -> String {
    let l = r.locale;
    format!(
        "{view_all}: {all}\n\n--\n{extra}{sent_by}\n{unsubscribe} {manage}: {prefs}\n",
        view_all = t(l, "email.notification.viewAll", &[]),
        all = r.all_notifications(),
        sent_by = t(l, "email.footer.sentBy", &[]),
        unsubscribe = t(l, "email.footer.unsubscribe", &[]),
        manage = t(l, "email.footer.managePreferences", &[]),
        prefs = r.preferences(),
    )
}

/// The email for one notification; subject `TestPlanIt: {title}`.
pub fn notification(r: &Recipient, n: &Shown) -> Email {
    let l = r.locale;
    let subject = format!("TestPlanIt: {}", n.title);
    let intro = t(l, "email.notification.intro", &[]);
    let details = t(l, "email.notification.viewDetails", &[]);
    let content = match &n.html {
        Some(html) => format!("<div style=\"margin: 0 0 12px;\">{html}</div>"),
        None => paragraphs(&n.message),
    };
    let mut body = format!(
        "<p style=\"margin: 0 0 12px;\">{}</p>\
         <h2 style=\"font-size: 18px; margin: 0 0 8px;\">{}</h2>{content}\
         <p style=\"margin: 0; font-size: 13px; color: #71717a;\">{}</p>",
        escape(&intro),
        escape(&n.title),
        escape(&n.when)
    );
    if let Some(link) = &n.link {
        body.push_str(&button(link, &details));
    }
    let reason_html = n
        .reason
        .as_deref()
        .map(|r| format!("<p style=\"margin: 0 0 6px;\">{}</p>", escape(r)))
        .unwrap_or_default();
    let html = layout(r, &subject, &body, &reason_html);

    let mut text = format!(
        "{}\n\n{intro}\n\n{}\n\n{}\n({})\n",
        r.greeting(),
        n.title,
        n.message,
        n.when
    );
    if let Some(link) = &n.link {
        text.push_str(&format!("\n{details}: {link}\n"));
    }
    text.push('\n');
    let reason_text = n
        .reason
        .as_deref()
        .map(|r| format!("{r}\n"))
        .unwrap_or_default();
    text.push_str(&text_footer(r, &reason_text));
    Email {
        subject,
        html,
        text,
    }
}

/// The daily digest of `items`; subject `TestPlanIt Daily Digest - {n} notifications`.
pub fn digest(r: &Recipient, items: &[Shown]) -> Email {
    let l = r.locale;
    let subject = format!("TestPlanIt Daily Digest - {} notifications", items.len());
    let count = [("count", Arg::from(items.len() as i64))];
    let open = t(l, "email.digest.viewDetails", &[]);
    let mut body = String::new();
    let mut text = format!("{}\n\n", r.greeting());
    if items.is_empty() {
        let none = t(l, "email.digest.noNotifications", &[]);
        body.push_str(&format!(
            "<p style=\"margin: 0 0 12px;\">{}</p>",
            escape(&none)
        ));
        text.push_str(&format!("{none}\n"));
    } else {
        let intro = t(l, "email.digest.intro", &count);
        body.push_str(&format!(
            "<p style=\"margin: 0 0 12px;\">{}</p>",
            escape(&intro)
        ));
        text.push_str(&format!("{intro}\n"));
        for n in items {
            let link = n
                .link
                .as_deref()
                .map(|href| {
                    format!(
                        " &middot; <a href=\"{}\" style=\"color: #6d28d9;\">{}</a>",
                        escape(href),
                        escape(&open)
                    )
                })
                .unwrap_or_default();
            body.push_str(&format!(
                "<div style=\"border-left: 3px solid #6d28d9; padding: 4px 12px; margin: 0 0 12px;\">\
                 <p style=\"margin: 0 0 4px; font-weight: 600;\">{}</p>{}\
                 <p style=\"margin: 0; font-size: 13px; color: #71717a;\">{}{link}</p></div>",
                escape(&n.title),
                paragraphs(&n.message),
                escape(&n.when)
            ));
            text.push_str(&format!(
                "\n* {}\n  {}\n  ({})\n",
                n.title,
                n.message.replace('\n', "\n  "),
                n.when
            ));
            if let Some(href) = &n.link {
                text.push_str(&format!("  {open}: {href}\n"));
            }
        }
    }
    let footer = format!(
        "{} {}",
        t(l, "email.digest.footer", &[]),
        t(l, "email.digest.profileSettings", &[])
    );
    let html = layout(
        r,
        &subject,
        &body,
        &format!("<p style=\"margin: 0 0 6px;\">{}</p>", escape(&footer)),
    );
    text.push('\n');
    text.push_str(&text_footer(r, &format!("{footer}\n")));
    Email {
        subject,
        html,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(title: &str, link: Option<&str>) -> Shown {
        Shown {
            title: title.into(),
            message: "Line one\nline two".into(),
            link: link.map(str::to_string),
            reason: None,
            html: None,
            when: "March 1, 2026 at 09:00 AM".into(),
        }
    }

    fn recipient(name: Option<&str>) -> Recipient<'_> {
        Recipient {
            user_id: "u1",
            name,
            locale: Locale::En,
            base: "https://tp.example.com",
        }
    }

    #[test]
    fn a_notification_email_has_its_links_in_both_parts() {
        let e = notification(
            &recipient(Some("Ana <admin>")),
            &shown("Run & done", Some("https://tp.example.com/en-US/x?a=1&b=2")),
        );
        assert_eq!(e.subject, "TestPlanIt: Run & done");
        // Escaped in HTML, as written in text.
        assert!(e.html.contains("Hello Ana &lt;admin&gt;,"));
        assert!(e.html.contains("Run &amp; done"));
        assert!(
            e.html
                .contains("href=\"https://tp.example.com/en-US/x?a=1&amp;b=2\"")
        );
        assert!(e.html.contains("Line one<br>line two"));
        assert!(
            e.html
                .contains("https://tp.example.com/en-US?openNotifications=true")
        );
        assert!(
            e.html
                .contains("https://tp.example.com/en-US/users/profile/u1")
        );
        assert!(
            e.html
                .contains("https://tp.example.com/tpi_logo_square.png")
        );
        assert!(
            e.text
                .contains("View details: https://tp.example.com/en-US/x?a=1&b=2")
        );
        assert!(e.text.contains(
            "Manage notification preferences: https://tp.example.com/en-US/users/profile/u1"
        ));
        // No link, no button.
        let plain = notification(&recipient(None), &shown("t", None));
        assert!(!plain.html.contains("View details"));
        assert!(plain.text.starts_with("Hello,\n"));
    }

    #[test]
    fn a_digest_lists_every_item() {
        let e = digest(
            &recipient(None),
            &[shown("First", Some("https://l/1")), shown("Second", None)],
        );
        assert_eq!(e.subject, "TestPlanIt Daily Digest - 2 notifications");
        assert!(e.html.contains("(2 notifications)"));
        assert!(e.html.find("First") < e.html.find("Second"));
        assert!(e.text.contains("* First\n  Line one\n  line two\n"));
        assert!(e.text.contains("Open: https://l/1"));
        let empty = digest(&recipient(None), &[]);
        assert!(empty.text.contains("Nothing new since yesterday."));
    }
}
