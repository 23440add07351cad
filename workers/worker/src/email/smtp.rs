//! Sending over SMTP as TestPlanIt configures it: `EMAIL_SERVER_HOST`, `EMAIL_SERVER_PORT`
//! (unset or 0: 587), `EMAIL_SERVER_USER`/`EMAIL_SERVER_PASSWORD` (login only when a user is
//! set), sender `"TestPlanIt" <EMAIL_FROM>`; STARTTLS whenever the server offers it, implicit
//! TLS on port 465. Connections are pooled across jobs. A 5xx reply is permanent (the job
//! fails with the server's words, not retried); anything else is retried by BullMQ.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::render::Email;
use crate::config::var;

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server or the address refuses it for good: retrying cannot help.
    #[error("{0}")]
    Permanent(String),
    /// Worth another attempt: the server is away, busy, or asked to try later.
    #[error("{0}")]
    Temporary(String),
}

pub struct Mailer {
    transport: Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), String>,
}

impl Mailer {
    /// The transport from the environment; what is missing or wrong is kept and reported by
    /// every send (and once at start).
    pub fn from_env() -> Mailer {
        let transport = build();
        if let Err(e) = &transport {
            tracing::warn!("emails cannot be sent: {e}");
        }
        Mailer { transport }
    }

    /// Where mail goes, for the start-up log line.
    pub fn describe(&self) -> String {
        match &self.transport {
            Ok((_, from)) => format!(
                "SMTP {}:{} as {from}",
                var("EMAIL_SERVER_HOST").unwrap_or_default(),
                port()
            ),
            Err(e) => format!("not configured ({e})"),
        }
    }

    pub async fn send(&self, to: &str, email: &Email) -> Result<(), SendError> {
        let (transport, from) = self
            .transport
            .as_ref()
            .map_err(|e| SendError::Temporary(format!("cannot send email: {e}")))?;
        let to: Mailbox = to.parse().map_err(|e| {
            SendError::Permanent(format!("the recipient address {to:?} is not valid: {e}"))
        })?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(&email.subject)
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))?;
        transport.send(message).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                SendError::Permanent(format!("the SMTP server refused the email: {e}"))
            } else {
                SendError::Temporary(format!("cannot send the email now: {e}"))
            }
        })
    }
}

fn port() -> u16 {
    var("EMAIL_SERVER_PORT")
        .and_then(|p| p.trim().parse::<u16>().ok())
        .filter(|p| *p != 0)
        .unwrap_or(587)
}

fn build() -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), String> {
    let host = var("EMAIL_SERVER_HOST").ok_or("EMAIL_SERVER_HOST is not set")?;
    let from = var("EMAIL_FROM").ok_or("EMAIL_FROM is not set")?;
    if let Some(p) = var("EMAIL_SERVER_PORT")
        && p.trim().parse::<u16>().is_err()
    {
        return Err(format!("EMAIL_SERVER_PORT={p:?} is not a port number"));
    }
    let from = Mailbox::new(
        Some("TestPlanIt".into()),
        from.trim()
            .parse()
            .map_err(|e| format!("EMAIL_FROM={from:?} is not an email address: {e}"))?,
    );
    let port = port();
    let tls = TlsParameters::new(host.clone())
        .map_err(|e| format!("cannot prepare TLS for {host}: {e}"))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
        .port(port)
        .tls(if port == 465 {
            Tls::Wrapper(tls)
        } else {
            Tls::Opportunistic(tls)
        })
        .timeout(Some(Duration::from_secs(30)));
    if let Some(user) = var("EMAIL_SERVER_USER") {
        builder = builder.credentials(Credentials::new(
            user,
            var("EMAIL_SERVER_PASSWORD").unwrap_or_default(),
        ));
    }
    Ok((builder.build(), from))
}
