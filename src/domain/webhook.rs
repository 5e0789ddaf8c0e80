//! Webhooks as pure rules (see `docs/webhooks.md`): the Standard Webhooks signature
//! (`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, secrets
//! `whsec_<base64>`), which receiver URLs may be registered, and which addresses are
//! private (refused unless the operator allows them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a generated secret (Standard Webhooks allows 24 to 64).
pub const SECRET_BYTES: usize = 32;
/// The event sent by `POST /webhooks/endpoints/{id}/test`, whatever the subscriptions.
pub const TEST_EVENT_TYPE: &str = "webhook.test";
/// The version of the payload envelope (`version` in every payload).
pub const PAYLOAD_VERSION: u32 = 1;

/// A signing secret as shown to the endpoint's owner: `whsec_` and the base64 of `bytes`.
pub fn encode_secret(bytes: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_…` secret.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD.decode(encoded).ok().filter(|b| !b.is_empty())
}

/// The base64 HMAC-SHA256 of `{msg_id}.{timestamp}.{body}` under `key`.
pub fn sign(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The `webhook-signature` header: `v1,<sig>` per valid secret, space-separated (during a
/// rotation the new secret's signature comes first, then the previous one's).
pub fn signature_header(keys: &[Vec<u8>], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| format!("v1,{}", sign(key, msg_id, timestamp, body)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a receiver does: whether any `v1` signature of the header matches `secret`.
/// (Comparison time does not matter here: this is the receivers' side, used by tests.)
pub fn verify_signature(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    let Some(key) = decode_secret(secret) else {
        return false;
    };
    let expected = sign(&key, msg_id, timestamp, body);
    header
        .split(' ')
        .filter_map(|part| part.strip_prefix("v1,"))
        .any(|sig| sig == expected)
}

/// Why an address may not receive webhooks without the operator's leave.
pub fn private_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private_v4(v4);
            }
            private_v6(v6)
        }
    }
}

fn private_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("broadcast, multicast or reserved")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
        Some("documentation or benchmarking")
    } else if a == 192 && b == 0 && ip.octets()[2] == 0 {
        Some("protocol assignments")
    } else {
        None
    }
}

fn private_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // NAT64: the embedded IPv4 address decides.
        let [.., c, d] = ip.segments();
        let v4 = Ipv4Addr::new((c >> 8) as u8, c as u8, (d >> 8) as u8, d as u8);
        private_v4(v4)
    } else {
        None
    }
}

/// A receiver URL that passed the rules that need no network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverUrl {
    pub url: url::Url,
    pub host: String,
    pub port: u16,
}

/// Checks a receiver URL: absolute, `https` (plain `http` only to a loopback host, and only
/// when `allow_plain_http_loopback`, i.e. in development), no credentials, at most 2,000
/// characters. The address it resolves to is checked separately.
pub fn parse_receiver_url(
    raw: &str,
    allow_plain_http_loopback: bool,
) -> Result<ReceiverUrl, String> {
    if raw.len() > 2_000 {
        return Err("must be at most 2000 characters".into());
    }
    let url = url::Url::parse(raw).map_err(|e| format!("is not an absolute URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("must name a host".into()),
    };
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = host == "localhost"
                || host
                    .parse::<IpAddr>()
                    .map(|ip| ip.is_loopback())
                    .unwrap_or(false);
            if !(loopback && allow_plain_http_loopback) {
                return Err(
                    "must use https (plain http is accepted only to a loopback address in development)"
                        .into(),
                );
            }
        }
        _ => return Err("must be an https URL".into()),
    }
    let port = url.port_or_known_default().unwrap_or(443);
    Ok(ReceiverUrl { url, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        // The example of the Standard Webhooks specification's reference libraries.
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let header = signature_header(&[key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert!(verify_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
            &header
        ));
    }

    #[test]
    fn private_addresses_are_named() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = ip.parse().expect("address");
            assert!(private_address(ip).is_some(), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::5db8:d822",
        ] {
            let ip: IpAddr = ip.parse().expect("address");
            assert_eq!(private_address(ip), None, "{ip}");
        }
    }

    #[test]
    fn receiver_urls() {
        assert!(parse_receiver_url("https://hooks.example.com/cadenza", false).is_ok());
        assert!(parse_receiver_url("http://hooks.example.com/", true).is_err());
        assert!(parse_receiver_url("http://127.0.0.1:9000/", false).is_err());
        assert!(parse_receiver_url("http://127.0.0.1:9000/", true).is_ok());
        assert!(parse_receiver_url("http://localhost/", true).is_ok());
        assert!(parse_receiver_url("ftp://example.com/", true).is_err());
        assert!(parse_receiver_url("https://user:pw@example.com/", true).is_err());
        assert!(parse_receiver_url("/relative", true).is_err());
        let url = parse_receiver_url("https://[::1]:8443/x", false).expect("ipv6");
        assert_eq!((url.host.as_str(), url.port), ("::1", 8443));
    }

    proptest! {
        #[test]
        fn a_signature_verifies_only_for_its_message(
            key in prop::collection::vec(any::<u8>(), 24..64),
            id in "msg_[a-z0-9]{8}",
            ts in 0i64..4_000_000_000,
            body in prop::collection::vec(any::<u8>(), 0..200),
            flip in any::<prop::sample::Index>(),
        ) {
            let secret = encode_secret(&key);
            let header = signature_header(std::slice::from_ref(&key), &id, ts, &body);
            prop_assert!(verify_signature(&secret, &id, ts, &body, &header));
            prop_assert!(!verify_signature(&secret, &id, ts + 1, &body, &header));
            let mut tampered = body.clone();
            tampered.push(b'x');
            if !body.is_empty() {
                let i = flip.index(body.len());
                tampered = body.clone();
                tampered[i] ^= 1;
            }
            prop_assert!(!verify_signature(&secret, &id, ts, &tampered, &header));
        }
    }
}
