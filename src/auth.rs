//! Bearer-token authentication for the listeners (`Authorization: Bearer <token>`), per
//! listener: ingest (HTTP and gRPC) and admin. Without tokens a listener is open. Tokens come
//! from env, files or the config, may expire, are compared in constant time, and are never
//! printed.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::metrics::Metrics;
use crate::secret::Secret;
use noisegate_engine::model::EventTime;

#[derive(Debug, Clone)]
pub struct Token {
    pub secret: Secret,
    pub expires: Option<EventTime>,
}

/// The tokens one listener accepts. Clones share the set, so a reload that calls
/// [`Tokens::replace_with`] takes effect on the running listener at its next request.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Arc<ArcSwap<Vec<Token>>>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Invalid,
    Expired,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => "missing bearer token (Authorization: Bearer ...)",
            Refusal::Invalid => "invalid bearer token",
            Refusal::Expired => "bearer token expired",
        }
    }
}

impl Tokens {
    pub fn new(tokens: Vec<Token>) -> Tokens {
        Tokens(Arc::new(ArcSwap::from_pointee(tokens)))
    }

    pub fn is_open(&self) -> bool {
        self.0.load().is_empty()
    }

    /// Makes this set (and every clone of it) accept what `other` accepts.
    pub fn replace_with(&self, other: &Tokens) {
        self.0.store(other.0.load_full());
    }

    /// Checks an `Authorization` header value at `now`.
    pub fn check(&self, authorization: Option<&str>, now: EventTime) -> Result<(), Refusal> {
        let tokens = self.0.load();
        if tokens.is_empty() {
            return Ok(());
        }
        let presented = authorization
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(Refusal::Missing)?;
        let token = tokens.iter().find(|token| equal(token.secret.expose().as_bytes(), presented.as_bytes()));
        match token {
            None => Err(Refusal::Invalid),
            Some(token) if token.expires.is_some_and(|expires| expires <= now) => Err(Refusal::Expired),
            Some(_) => Ok(()),
        }
    }
}

/// Constant-time equality (for equal lengths; lengths are not secret).
fn equal(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left.iter().zip(right).fold(0u8, |difference, (a, b)| difference | (a ^ b)) == 0
}

/// What an HTTP listener's middleware needs.
#[derive(Clone)]
pub struct Guard {
    pub tokens: Tokens,
    pub metrics: Arc<Metrics>,
    /// The `listener` label refusals are counted under: `http`, `grpc` or `admin`.
    pub listener: &'static str,
}

/// Axum middleware: 401 with `WWW-Authenticate: Bearer` unless the request carries a valid token.
pub async fn require(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let authorization =
        request.headers().get(axum::http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    match guard.tokens.check(authorization, crate::clock::now()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            guard.metrics.unauthenticated(guard.listener);
            let body = serde_json::json!({ "status": "error", "error": refusal.message() });
            (StatusCode::UNAUTHORIZED, [(axum::http::header::WWW_AUTHENTICATE, "Bearer")], axum::Json(body))
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_with_their_expiry() {
        let now = EventTime::from_millis(1_800_000_000_000);
        let tokens = Tokens::new(vec![
            Token { secret: Secret::new("current".into()), expires: None },
            Token {
                secret: Secret::new("old".into()),
                expires: Some(EventTime::from_millis(1_700_000_000_000)),
            },
        ]);
        assert_eq!(tokens.check(Some("Bearer current"), now), Ok(()));
        assert_eq!(tokens.check(Some("Bearer old"), now), Err(Refusal::Expired));
        assert_eq!(tokens.check(Some("Bearer guess"), now), Err(Refusal::Invalid));
        assert_eq!(tokens.check(Some("Basic current"), now), Err(Refusal::Missing));
        assert_eq!(tokens.check(None, now), Err(Refusal::Missing));
        assert_eq!(Tokens::default().check(None, now), Ok(()));
    }
}
