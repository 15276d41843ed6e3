//! Outgoing mail: SMTP (`GPTAUTH_SMTP_URL`: STARTTLS, implicit TLS or plain on loopback, with
//! authentication) or, when none is configured, the log, so a fresh install still works.
//! Messages go out in the background: a request never waits on the mail server, and its
//! timing tells nothing about whether a message was sent.

mod messages;

pub use messages::{ChangeNotice, ConfirmNewAddress, Message, ResetPassword, VerifyEmail};

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("GPTAUTH_SMTP_URL: {0}")]
    Url(String),
    #[error("GPTAUTH_MAIL_FROM: {0}")]
    From(String),
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("sending failed: {0}")]
    Send(String),
}

/// Where mail goes.
#[derive(Clone)]
pub struct Mailer {
    inner: Transport,
    from: Mailbox,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// No SMTP server configured: messages are logged.
    Log,
}

impl Mailer {
    /// `smtp_url`: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (implicit TLS) or `smtp://host:25` (plain; for a relay on
    /// the same machine). `None`: log the messages.
    pub fn new(smtp_url: Option<&str>, from: &str) -> Result<Self, MailError> {
        let from: Mailbox = from.parse().map_err(|e| MailError::From(format!("{e}")))?;
        let inner = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailError::Url(e.to_string()))?
                    .timeout(Some(std::time::Duration::from_secs(15)))
                    .build(),
            ),
            None => Transport::Log,
        };
        Ok(Mailer { inner, from })
    }

    pub fn is_logging(&self) -> bool {
        matches!(self.inner, Transport::Log)
    }

    /// Sends in the background; failures are logged (without the message's links).
    pub fn send(&self, to: &str, message: Message) {
        let mailer = self.clone();
        let to = to.to_string();
        tokio::spawn(async move {
            if let Err(e) = mailer.deliver(&to, message).await {
                tracing::error!(error = %e, kind = "mail", "a message could not be sent");
            }
        });
    }

    /// Sends now.
    pub async fn deliver(&self, to: &str, message: Message) -> Result<(), MailError> {
        let mailbox: Mailbox = to.parse().map_err(|e| MailError::Build(format!("{e}")))?;
        match &self.inner {
            Transport::Log => {
                // The only place a link is logged: with no mail server, the log is the mail.
                tracing::warn!(
                    to = %to,
                    subject = %message.subject,
                    "GPTAUTH_SMTP_URL is not set, so this message is only logged:\n{}",
                    message.text
                );
                Ok(())
            }
            Transport::Smtp(transport) => {
                let email = lettre::Message::builder()
                    // Receiving servers (Gmail among them) penalise mail without one.
                    .message_id(None)
                    .from(self.from.clone())
                    .to(mailbox)
                    .subject(&message.subject)
                    .multipart(MultiPart::alternative_plain_html(
                        message.text,
                        message.html,
                    ))
                    .map_err(|e| MailError::Build(e.to_string()))?;
                transport
                    .send(email)
                    .await
                    .map(|_| ())
                    .map_err(|e| MailError::Send(e.to_string()))
            }
        }
    }
}
