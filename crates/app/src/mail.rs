//! E-mail through the clinic's SMTP server. Messages carry a link and nothing about the
//! person's health: not the questionnaire's name, not a score, not a diagnosis.

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// An SMTP server kapstone sends through.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// `url`: `smtp://host:25` (plain, for a relay on the same machine or network),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://user:pass@host:465`.
    pub fn new(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("smtp url: {e}"))?
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("mail from: '{from}' is not an address ({e})"))?;
        Ok(Mailer { transport, from })
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("email: '{to}' is not an address ({e})"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the mail server refused the message: {e}"))
    }
}

/// The portal-link e-mail. Deliberately generic: whoever else reads the inbox learns only that
/// the clinic sent a link.
pub fn portal_link_message(clinic_name: &str, url: &str, expires: &str) -> (String, String) {
    let subject = format!("A message from {clinic_name}");
    let body = format!(
        "Hello,\n\n{clinic_name} has a short form for you. Please open this link to fill it in:\n\n{url}\n\n\
         The link works once and expires on {expires}. It is for you only; please do not forward this e-mail.\n\n\
         {clinic_name}\n"
    );
    (subject, body)
}
