//! Where mails go: an SMTP server in production, or a folder of `.eml` files,
//! the embedded default, so `cadenza serve` needs no mail server and a
//! developer can open what would have been sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::MailError;
use crate::config::{MailSettings, SmtpTls};

/// A resolved SMTP configuration (from `CADENZA_SMTP_URL` or the separate variables).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl SmtpSettings {
    /// Parses `smtp://user:pass@host:587?tls=starttls` (also `smtps://host` for implicit
    /// TLS). `tls` is `starttls` (the default for `smtp://`), `tls`, `opportunistic` or
    /// `none`; the port defaults to 587, 465 or 25 accordingly. User and password are
    /// percent-decoded.
    pub fn from_url(raw: &str, timeout: Duration) -> Result<Self, MailError> {
        let invalid = |why: &str| MailError::Settings(format!("CADENZA_SMTP_URL: {why}"));
        let url = url::Url::parse(raw.trim()).map_err(|e| invalid(&e.to_string()))?;
        let mut tls = match url.scheme() {
            "smtp" => SmtpTls::Starttls,
            "smtps" => SmtpTls::Tls,
            other => {
                return Err(invalid(&format!(
                    "the scheme must be smtp or smtps, not `{other}`"
                )))
            }
        };
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" => {
                    tls = <SmtpTls as clap::ValueEnum>::from_str(&value, true).map_err(|_| {
                        invalid(&format!(
                            "tls must be starttls, tls, opportunistic or none, not `{value}`"
                        ))
                    })?
                }
                other => return Err(invalid(&format!("unknown parameter `{other}`"))),
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?
            .to_string();
        let decode = |s: &str| {
            percent_decode(s)
                .ok_or_else(|| invalid("the credentials are not valid percent-encoded UTF-8"))
        };
        let username = match url.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = url.password().map(decode).transpose()?;
        Ok(SmtpSettings {
            port: url.port().unwrap_or_else(|| tls.default_port()),
            host,
            tls,
            username,
            password,
            timeout,
        })
    }

    /// The settings of `cadenza serve`/`worker`, if SMTP is configured at all.
    pub fn from_mail_settings(settings: &MailSettings) -> Result<Option<Self>, MailError> {
        let timeout = Duration::from_secs(settings.smtp_timeout_secs.max(1));
        if let Some(url) = settings
            .smtp_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            return Self::from_url(url, timeout).map(Some);
        }
        let Some(host) = settings
            .smtp_host
            .as_deref()
            .filter(|h| !h.trim().is_empty())
        else {
            return Ok(None);
        };
        Ok(Some(SmtpSettings {
            host: host.trim().to_string(),
            port: settings
                .smtp_port
                .unwrap_or_else(|| settings.smtp_tls.default_port()),
            tls: settings.smtp_tls,
            username: settings.smtp_username.clone(),
            password: settings.smtp_password.clone(),
            timeout,
        }))
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Delivers one built message.
#[derive(Clone)]
pub enum Transport {
    Smtp {
        mailer: AsyncSmtpTransport<Tokio1Executor>,
        description: String,
    },
    /// One `<outbox id>.eml` file per message: a redelivery overwrites the same file.
    Folder(PathBuf),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Transport {
    /// SMTP when configured, otherwise the folder (`CADENZA_MAIL_DIR`, default `<data_dir>/mail`).
    pub fn from_settings(settings: &MailSettings, data_dir: &Path) -> Result<Self, MailError> {
        match SmtpSettings::from_mail_settings(settings)? {
            Some(smtp) => Self::smtp(&smtp),
            None => Ok(Transport::Folder(
                settings
                    .mail_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("mail")),
            )),
        }
    }

    pub fn smtp(settings: &SmtpSettings) -> Result<Self, MailError> {
        let params = || TlsParameters::new(settings.host.clone()).map_err(MailError::Smtp);
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Opportunistic => Tls::Opportunistic(params()?),
            SmtpTls::Starttls => Tls::Required(params()?),
            SmtpTls::Tls => Tls::Wrapper(params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(user) = &settings.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                settings.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Transport::Smtp {
            mailer: builder.build(),
            description: format!(
                "SMTP {}:{} ({})",
                settings.host,
                settings.port,
                settings.tls.as_str()
            ),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp { description, .. } => description.clone(),
            Transport::Folder(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Sends `message`; `outbox_id` names the file of the folder transport.
    pub async fn send(&self, message: &Message, outbox_id: &str) -> Result<(), MailError> {
        match self {
            Transport::Smtp { mailer, .. } => {
                mailer
                    .send_raw(message.envelope(), &message.formatted())
                    .await?;
                Ok(())
            }
            Transport::Folder(dir) => write_eml(dir, outbox_id, &message.formatted()).await,
        }
    }
}

/// Writes atomically (temporary file, then rename) so a reader never sees half a mail.
async fn write_eml(dir: &Path, outbox_id: &str, bytes: &[u8]) -> Result<(), MailError> {
    let file_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MailError::File { path, source }
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(file_err(dir))?;
    // Outbox ids are UUIDs; keep anything else out of the path all the same.
    let name: String = outbox_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let path = dir.join(format!("{name}.eml"));
    let partial = dir.join(format!(".{name}.eml.partial"));
    tokio::fs::write(&partial, bytes)
        .await
        .map_err(file_err(&partial))?;
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(file_err(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn smtp_urls_are_parsed() {
        let s = SmtpSettings::from_url(
            "smtp://ann%40x.test:p%3Ass@mail.x.test:2525?tls=starttls",
            T,
        )
        .unwrap();
        assert_eq!(s.host, "mail.x.test");
        assert_eq!(s.port, 2525);
        assert_eq!(s.tls, SmtpTls::Starttls);
        assert_eq!(s.username.as_deref(), Some("ann@x.test"));
        assert_eq!(s.password.as_deref(), Some("p:ss"));
        assert!(
            !format!("{s:?}").contains("p:ss"),
            "debug output hides the password"
        );

        let s = SmtpSettings::from_url("smtps://mail.x.test", T).unwrap();
        assert_eq!((s.tls, s.port, s.username), (SmtpTls::Tls, 465, None));
        let s = SmtpSettings::from_url("smtp://127.0.0.1?tls=none", T).unwrap();
        assert_eq!((s.tls, s.port), (SmtpTls::None, 25));
        let s = SmtpSettings::from_url("smtp://relay", T).unwrap();
        assert_eq!((s.tls, s.port), (SmtpTls::Starttls, 587));
    }

    #[test]
    fn bad_smtp_urls_are_refused() {
        for url in [
            "http://mail.x.test",
            "smtp://mail.x.test?tls=maybe",
            "smtp://mail.x.test?secure=1",
            "smtp://",
            "not a url",
        ] {
            assert!(
                matches!(SmtpSettings::from_url(url, T), Err(MailError::Settings(_))),
                "{url} should be refused"
            );
        }
    }

    #[actix_web::test]
    async fn the_folder_transport_writes_one_file_per_outbox_row() {
        let dir = tempfile::tempdir().unwrap();
        let transport = Transport::Folder(dir.path().join("mail"));
        let message = Message::builder()
            .from("Cadenza <c@x.test>".parse().unwrap())
            .to("a@x.test".parse().unwrap())
            .subject("hi")
            .message_id(Some("<m1@cadenza.mail>".into()))
            .body(String::from("hello"))
            .unwrap();
        transport.send(&message, "0193-abc").await.unwrap();
        // A redelivery overwrites rather than duplicates.
        transport.send(&message, "0193-abc").await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files, vec!["0193-abc.eml"]);
        let eml = std::fs::read_to_string(dir.path().join("mail/0193-abc.eml")).unwrap();
        assert!(eml.contains("Message-ID: <m1@cadenza.mail>"), "{eml}");
    }
}
