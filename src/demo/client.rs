//! A small client of Cadenza's own HTTP API: the demo seeds the market the way a
//! licensing team's integration would, so every rule the API enforces applies to
//! the demo data too.

use std::path::Path;

use futures_util::stream;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::DemoError;

/// The base URL of a running Cadenza, e.g. `http://127.0.0.1:8080`.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
}

/// A logged-in member: their bearer token and who they are.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub user_id: String,
    pub organization_id: String,
}

impl Session {
    fn from_auth_response(body: &Value) -> Result<Self, DemoError> {
        let field = |pointer: &str| {
            body.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| DemoError::Shape(format!("no {pointer} in {body}")))
        };
        Ok(Session {
            token: field("/access_token")?,
            user_id: field("/user/id")?,
            organization_id: field("/organization/id")?,
        })
    }
}

/// What a deal transition answered: the deal, or a refusal with its problem document.
pub enum Transition {
    Done(Value),
    Refused { status: u16, problem: Value },
}

impl ApiClient {
    pub fn new(base: impl Into<String>) -> Self {
        ApiClient {
            base: base.into().trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        if_match: Option<i64>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), DemoError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(version) = if_match {
            request = request.header(header::IF_MATCH, format!("\"{version}\""));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, body))
    }

    /// Sends a request and insists on `expected`: anything else stops the demo with the
    /// API's own explanation.
    async fn expect(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> Result<Value, DemoError> {
        let (status, answer) = self.send(method.clone(), path, token, None, body).await?;
        if status == expected {
            Ok(answer)
        } else {
            Err(DemoError::Unexpected {
                request: format!("{method} {path}"),
                status: status.as_u16(),
                body: answer.to_string(),
            })
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Result<Value, DemoError> {
        self.expect(Method::GET, path, Some(token), None, StatusCode::OK)
            .await
    }

    /// A POST that must create something (201).
    pub async fn create(&self, path: &str, token: &str, body: &Value) -> Result<Value, DemoError> {
        self.expect(
            Method::POST,
            path,
            Some(token),
            Some(body),
            StatusCode::CREATED,
        )
        .await
    }

    /// A POST that must succeed with 200.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Result<Value, DemoError> {
        self.expect(Method::POST, path, Some(token), Some(body), StatusCode::OK)
            .await
    }

    /// Logs in and returns the bearer token; `None` when the credentials are not (or
    /// not yet) an account.
    pub async fn login(&self, email: &str, password: &str) -> Result<Option<String>, DemoError> {
        let body = serde_json::json!({"email": email, "password": password});
        let (status, answer) = self
            .send(Method::POST, "/api/v1/auth/login", None, None, Some(&body))
            .await?;
        match status {
            StatusCode::OK => Ok(Some(str_field(&answer, "access_token")?.to_string())),
            StatusCode::UNAUTHORIZED => Ok(None),
            other => Err(DemoError::Unexpected {
                request: "POST /api/v1/auth/login".into(),
                status: other.as_u16(),
                body: answer.to_string(),
            }),
        }
    }

    pub async fn register(&self, body: &Value) -> Result<Session, DemoError> {
        let answer = self
            .expect(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(body),
                StatusCode::CREATED,
            )
            .await?;
        Session::from_auth_response(&answer)
    }

    pub async fn accept_invitation(&self, body: &Value) -> Result<Session, DemoError> {
        let answer = self
            .expect(
                Method::POST,
                "/api/v1/invitations/accept",
                None,
                Some(body),
                StatusCode::CREATED,
            )
            .await?;
        Session::from_auth_response(&answer)
    }

    /// Takes a deal transition (`submit`, `counter`, `sign`, …) against the deal's
    /// current version, as `If-Match` requires.
    pub async fn transition(
        &self,
        token: &str,
        deal: &Value,
        action: &str,
        body: &Value,
    ) -> Result<Transition, DemoError> {
        let id = str_field(deal, "id")?;
        let version = deal
            .get("version")
            .and_then(Value::as_i64)
            .ok_or_else(|| DemoError::Shape(format!("no version in {deal}")))?;
        let (status, answer) = self
            .send(
                Method::POST,
                &format!("/api/v1/deals/{id}/{action}"),
                Some(token),
                Some(version),
                Some(body),
            )
            .await?;
        if status == StatusCode::OK {
            Ok(Transition::Done(answer))
        } else {
            Ok(Transition::Refused {
                status: status.as_u16(),
                problem: answer,
            })
        }
    }

    /// Like [`Self::transition`], but a refusal stops the demo.
    pub async fn act(
        &self,
        token: &str,
        deal: &Value,
        action: &str,
        body: &Value,
    ) -> Result<Value, DemoError> {
        match self.transition(token, deal, action, body).await? {
            Transition::Done(deal) => Ok(deal),
            Transition::Refused { status, problem } => Err(DemoError::Unexpected {
                request: format!("POST /api/v1/deals/{}/{action}", str_field(deal, "id")?),
                status,
                body: problem.to_string(),
            }),
        }
    }

    /// Streams a CSV file to the catalog's import endpoint (never whole in memory, so
    /// `--tracks 15000000` works) and returns the import report.
    pub async fn import_csv(
        &self,
        token: &str,
        catalog_id: &str,
        file: &Path,
    ) -> Result<Value, DemoError> {
        let file = tokio::fs::File::open(file).await?;
        let chunks = stream::try_unfold(file, |mut file| async move {
            let mut buf = vec![0u8; 256 * 1024];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            buf.truncate(n);
            Ok(Some((buf, file)))
        });
        let path = format!("/api/v1/catalogs/{catalog_id}/imports");
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "text/csv")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if status == StatusCode::OK {
            serde_json::from_str(&text).map_err(|e| DemoError::Shape(e.to_string()))
        } else {
            Err(DemoError::Unexpected {
                request: format!("POST {path}"),
                status: status.as_u16(),
                body: text,
            })
        }
    }
}

/// A string field of an API answer.
pub fn str_field<'a>(value: &'a Value, name: &str) -> Result<&'a str, DemoError> {
    value
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| DemoError::Shape(format!("no string `{name}` in {value}")))
}
