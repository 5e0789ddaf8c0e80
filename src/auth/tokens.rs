//! Access tokens: HS256 JWTs, pinned to that one algorithm, with `iss`, `aud`,
//! `exp`, `sub`, organization and role claims, validated strictly. Refresh
//! tokens are opaque random strings; only their SHA-256 hash is stored.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::role::Role;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub org: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid")]
    Invalid,
    #[error("the access token could not be created")]
    Encode,
}

/// Signing and verification keys plus the claims every token must carry.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl_secs: u64,
}

const ALGORITHM: Algorithm = Algorithm::HS256;

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        validation.validate_exp = true;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_string(),
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn issue(
        &self,
        user_id: &str,
        organization_id: &str,
        role: Role,
    ) -> Result<String, TokenError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            org: organization_id.to_string(),
            role,
            iss: self.issuer.clone(),
            aud: self.issuer.clone(),
            iat: now,
            exp: now + i64::try_from(self.ttl_secs).unwrap_or(i64::MAX / 2),
            jti: uuid::Uuid::now_v7().to_string(),
        };
        self.encode(&claims)
    }

    /// Signs arbitrary claims (tests use it to forge expired or foreign tokens).
    pub fn encode(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(ALGORITHM), claims, &self.encoding)
            .map_err(|_| TokenError::Encode)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// A new opaque secret for refresh, invitation and reset tokens: 256 random bits, URL-safe.
pub fn random_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// What is stored instead of an opaque token: its SHA-256, hex. The tokens carry
/// 256 bits of entropy, so a fast hash is enough (no salt or stretching needed).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", "cadenza", 900)
    }

    #[test]
    fn issued_tokens_verify() {
        let k = keys();
        let token = k.issue("u1", "o1", Role::Signer).unwrap();
        let claims = k.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.org.as_str(), claims.role),
            ("u1", "o1", Role::Signer)
        );
    }

    #[test]
    fn expired_other_key_other_audience_and_none_alg_are_refused() {
        let k = keys();
        let mut claims = k
            .verify(&k.issue("u1", "o1", Role::Owner).unwrap())
            .unwrap();
        claims.exp = Utc::now().timestamp() - 60;
        assert_eq!(
            k.verify(&k.encode(&claims).unwrap()),
            Err(TokenError::Expired)
        );

        let other = TokenKeys::new(b"another-secret-another-secret-xx", "cadenza", 900);
        assert_eq!(
            k.verify(&other.issue("u1", "o1", Role::Owner).unwrap()),
            Err(TokenError::Invalid)
        );

        let foreign = TokenKeys::new(b"0123456789abcdef0123456789abcdef", "elsewhere", 900);
        assert_eq!(
            k.verify(&foreign.issue("u1", "o1", Role::Owner).unwrap()),
            Err(TokenError::Invalid)
        );

        // alg=none with the same claims: the header is not HS256, so it is refused.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = serde_json::to_vec(
            &k.verify(&k.issue("u1", "o1", Role::Owner).unwrap())
                .unwrap(),
        )
        .unwrap();
        let unsigned = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(payload)
        );
        assert_eq!(k.verify(&unsigned), Err(TokenError::Invalid));
    }

    #[test]
    fn token_hashes_are_stable_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_eq!(token_hash(&a).len(), 64);
    }
}
