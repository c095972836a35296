//! Webhooks, the pure part: the event catalog, endpoint validation, the
//! addresses a delivery may reach (SSRF rules), endpoint secrets and
//! Standard Webhooks signatures, the retry schedule, and which expiry
//! notice is due.
//!
//! Signatures follow the Standard Webhooks specification
//! (<https://www.standardwebhooks.com/>): the receiver gets `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (`v1,` + base64 of HMAC-SHA-256 over `id.timestamp.body`, keyed with the
//! bytes of the endpoint's `whsec_` secret).

use crate::error::{Field, Invalid, ValidationError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use ipnet::IpNet;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use zeroize::Zeroizing;

/// What a webhook tells. Serialised as its dotted name (`api_key.expiring`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookEvent {
    #[serde(rename = "api_key.created")]
    KeyCreated,
    #[serde(rename = "api_key.updated")]
    KeyUpdated,
    #[serde(rename = "api_key.rotated")]
    KeyRotated,
    #[serde(rename = "api_key.revoked")]
    KeyRevoked,
    #[serde(rename = "api_key.deleted")]
    KeyDeleted,
    /// A key's expiry is within a notice threshold (30, 7, 1 days by
    /// default), or a rotation's grace period is about to end.
    #[serde(rename = "api_key.expiring")]
    KeyExpiring,
    #[serde(rename = "api_key.expired")]
    KeyExpired,
    /// An existing key was refused more often than the threshold in a window.
    #[serde(rename = "api_key.denied_spike")]
    KeyDeniedSpike,
    /// A key was used successfully from a network not seen for it lately.
    #[serde(rename = "api_key.new_address")]
    KeyNewAddress,
    /// The endpoint was disabled after a run of failed deliveries.
    #[serde(rename = "webhook.disabled")]
    EndpointDisabled,
    /// Sent on request ("Send test event"), to that endpoint only.
    #[serde(rename = "webhook.test")]
    Test,
}

impl WebhookEvent {
    pub const ALL: [Self; 11] = [
        Self::KeyCreated,
        Self::KeyUpdated,
        Self::KeyRotated,
        Self::KeyRevoked,
        Self::KeyDeleted,
        Self::KeyExpiring,
        Self::KeyExpired,
        Self::KeyDeniedSpike,
        Self::KeyNewAddress,
        Self::EndpointDisabled,
        Self::Test,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::KeyCreated => "api_key.created",
            Self::KeyUpdated => "api_key.updated",
            Self::KeyRotated => "api_key.rotated",
            Self::KeyRevoked => "api_key.revoked",
            Self::KeyDeleted => "api_key.deleted",
            Self::KeyExpiring => "api_key.expiring",
            Self::KeyExpired => "api_key.expired",
            Self::KeyDeniedSpike => "api_key.denied_spike",
            Self::KeyNewAddress => "api_key.new_address",
            Self::EndpointDisabled => "webhook.disabled",
            Self::Test => "webhook.test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// What the event means, for the console's event picker.
    pub const fn label(self) -> &'static str {
        match self {
            Self::KeyCreated => "A key was generated",
            Self::KeyUpdated => "A key was edited",
            Self::KeyRotated => "A key was rotated",
            Self::KeyRevoked => "A key was revoked",
            Self::KeyDeleted => "A key was deleted",
            Self::KeyExpiring => "A key expires soon, or its previous secret stops soon",
            Self::KeyExpired => "A key expired",
            Self::KeyDeniedSpike => "A key was refused many times",
            Self::KeyNewAddress => "A key was used from a new network",
            Self::EndpointDisabled => "An endpoint was disabled after failures",
            Self::Test => "A test event",
        }
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which events an endpoint receives: the named ones, or every event
/// (including those added in later versions) when none is named. Test
/// events reach the endpoint they are sent to whatever its filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter(Vec<WebhookEvent>);

impl EventFilter {
    /// Sorted and without repeats; `webhook.test` may not be named (every
    /// endpoint takes its own test events).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, ValidationError> {
        let mut events = Vec::with_capacity(names.len());
        for n in names {
            let n = n.as_ref().trim();
            match WebhookEvent::parse(n) {
                Some(WebhookEvent::Test) | None => {
                    return Err(ValidationError::new(
                        Field::Events,
                        Invalid::UnknownEvent {
                            value: crate::error::echo(n),
                        },
                    ));
                }
                Some(e) => events.push(e),
            }
        }
        events.sort_unstable();
        events.dedup();
        Ok(Self(events))
    }

    pub fn matches(&self, event: WebhookEvent) -> bool {
        event == WebhookEvent::Test || self.0.is_empty() || self.0.contains(&event)
    }

    pub fn events(&self) -> &[WebhookEvent] {
        &self.0
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|e| e.as_str().to_owned()).collect()
    }
}

/// An endpoint's URL: `http://` or `https://` (lower case), a host (a
/// DNS name whose last label starts with a letter, an IPv4 address, or an
/// IPv6 address in brackets), an optional port (1–65535), then an optional
/// path and query of URL characters (`%` followed by two hex digits); no
/// user name or password, no fragment, no spaces; at most 2,000
/// characters. [`crate::fields::patterns::webhook_url`] is the same rule as
/// a pattern. Where it may connect is decided at delivery
/// ([`AddressPolicy`]); a literal address is checked when it is saved too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUrl {
    raw: String,
    host: EndpointHost,
}

/// The host of an [`EndpointUrl`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointHost {
    Name(String),
    Ip(IpAddr),
}

impl EndpointUrl {
    pub const MAX: usize = 2000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bad = |invalid| Err(ValidationError::new(Field::Url, invalid));
        if raw.is_empty() {
            return bad(Invalid::Required);
        }
        if raw.chars().count() > Self::MAX {
            return bad(Invalid::TooLong { max: Self::MAX });
        }
        match parse_url(raw) {
            Some(host) => Ok(Self {
                raw: raw.to_owned(),
                host,
            }),
            None => bad(Invalid::BadUrl),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn host(&self) -> &EndpointHost {
        &self.host
    }

    /// The address the URL names directly, when its host is an IP literal.
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match self.host {
            EndpointHost::Ip(ip) => Some(ip),
            EndpointHost::Name(_) => None,
        }
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// The characters a path may hold besides `%HH` (RFC 3986 `pchar` and `/`).
pub(crate) fn url_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)
}

fn parse_url(s: &str) -> Option<EndpointHost> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let (host, rest) = if let Some(inner) = rest.strip_prefix('[') {
        let end = inner.find(']')?;
        let ip: Ipv6Addr = inner[..end].parse().ok()?;
        (EndpointHost::Ip(IpAddr::V6(ip)), &inner[end + 1..])
    } else {
        let end = rest.find([':', '/', '?']).unwrap_or(rest.len());
        let name = &rest[..end];
        let host = if let Ok(ip) = name.parse::<Ipv4Addr>() {
            EndpointHost::Ip(IpAddr::V4(ip))
        } else if host_name(name) {
            EndpointHost::Name(name.to_ascii_lowercase())
        } else {
            return None;
        };
        (host, &rest[end..])
    };
    let rest = match rest.strip_prefix(':') {
        Some(p) => {
            let end = p.find(['/', '?']).unwrap_or(p.len());
            let digits = &p[..end];
            let ok = !digits.is_empty()
                && digits.len() <= 5
                && !digits.starts_with('0')
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u32>().is_ok_and(|n| n <= 65535);
            if !ok {
                return None;
            }
            &p[end..]
        }
        None => rest,
    };
    let (path, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if !path.is_empty() && !path.starts_with('/') {
        return None;
    }
    let escaped = |text: &str, extra: u8| {
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                if !(i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit())
                {
                    return false;
                }
                i += 3;
            } else if url_path_char(b[i]) || b[i] == extra {
                i += 1;
            } else {
                return false;
            }
        }
        true
    };
    (escaped(path, b'/') && query.is_none_or(|q| escaped(q, b'?'))).then_some(host)
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens
/// (1–63 characters), the last starting with a letter (so that it is never
/// read as a number, as in `1.2.3`).
fn host_name(name: &str) -> bool {
    let label = |l: &str| {
        let b = l.as_bytes();
        (1..=63).contains(&b.len())
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    let mut labels = name.split('.').peekable();
    while let Some(l) = labels.next() {
        if !label(l) {
            return false;
        }
        if labels.peek().is_none() && !l.as_bytes()[0].is_ascii_alphabetic() {
            return false;
        }
    }
    true
}

/// The addresses deliveries may connect to: public unicast addresses, and
/// whatever networks the operator allows (`webhook_allow_networks`).
/// Loopback, private, shared (CGNAT), link-local (cloud metadata at
/// 169.254.169.254 included), unique-local, multicast, documentation,
/// benchmarking and reserved ranges are refused, as are IPv4 addresses
/// embedded in IPv6 (mapped, NAT64, 6to4) that would be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|n| n.contains(&ip)) || is_public(ip)
    }
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => is_public_v6(a),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(o0 == 0 // "this network"
        || a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || (o0 == 100 && (o1 & 0xc0) == 64) // 100.64.0.0/10, shared (CGNAT)
        || (o0 == 192 && o1 == 0 && o2 == 0) // 192.0.0.0/24, protocol assignments
        || a.is_documentation()
        || (o0 == 198 && (o1 & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        || o0 >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // SIIT (::ffff:0:a.b.c.d) and NAT64 (64:ff9b::/96) reach the IPv4
    // address they hold; 6to4 (2002::/16) too.
    if s[0..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        return is_public_v4(v4(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return is_public_v4(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return is_public_v4(v4(s[1], s[2]));
    }
    // Global unicast is 2000::/3; within it, the IETF protocol
    // assignments (2001::/23: Teredo, which carries an IPv4 address,
    // benchmarking, ORCHID…) and documentation (2001:db8::/32) are not
    // destinations. Everything else (loopback, unique local with cloud
    // metadata at fd00:ec2::254, link-local, site-local, multicast, local
    // NAT64 64:ff9b:1::/48, discard 100::/64…) lies outside 2000::/3.
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] < 0x0200)
        && !(s[0] == 0x2001 && s[1] == 0x0db8)
}

/// The network an address is counted in for `api_key.new_address`: its
/// /24 (IPv4) or /64 (IPv6), where one site's addresses usually lie.
pub fn network_of(ip: IpAddr) -> IpNet {
    let prefix = match ip {
        IpAddr::V4(_) => 24,
        IpAddr::V6(_) => 64,
    };
    IpNet::new(ip, prefix)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(ip))
}

/// An endpoint's signing secret: 24 random bytes, shown once as
/// `whsec_` + base64. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    pub const PREFIX: &'static str = "whsec_";
    const LEN: usize = 24;

    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; Self::LEN]);
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Reads `whsec_…` (24 to 64 bytes, as the specification allows).
    pub fn parse(s: &str) -> Option<Self> {
        let bytes = Zeroizing::new(BASE64.decode(s.strip_prefix(Self::PREFIX)?).ok()?);
        (24..=64).contains(&bytes.len()).then_some(Self(bytes))
    }

    /// The secret as shown to the endpoint's owner (`whsec_…`).
    pub fn expose(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}{}", Self::PREFIX, BASE64.encode(&self.0)))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// A message id (`msg_` + 26 base62 characters, about 155 random bits):
/// the `webhook-id` of every attempt of one delivery.
pub fn message_id<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut out = [0u8; 26];
    crate::key::fill_base62(rng, &mut out);
    format!("msg_{}", String::from_utf8_lossy(&out))
}

/// When failed deliveries are tried again: after each failed attempt, the
/// next delay of the schedule, spread by ±10 % so that an endpoint back
/// from an outage is not hit by every retry at once. The default spans
/// over a day: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (27 h 35 min in
/// all, eight attempts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule(Vec<std::time::Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::from_seconds(&[5, 300, 1800, 7200, 18_000, 36_000, 36_000])
    }
}

impl RetrySchedule {
    pub fn from_seconds(delays: &[u64]) -> Self {
        Self(
            delays
                .iter()
                .map(|s| std::time::Duration::from_secs(*s))
                .collect(),
        )
    }

    /// Attempts in all: the first and one per delay.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.0.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The delay before the next attempt after `failed` attempts failed
    /// (`None`: give up). `spread` in [0, 1) picks the point in ±10 %.
    pub fn next_delay(&self, failed: u32, spread: f64) -> Option<std::time::Duration> {
        let i = usize::try_from(failed.checked_sub(1)?).ok()?;
        let base = *self.0.get(i)?;
        let factor = 0.9 + 0.2 * spread.clamp(0.0, 1.0);
        Some(base.mul_f64(factor))
    }
}

/// What a key's expiry notices are about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The key expires within a threshold (days before).
    Expiring,
    /// The key expired.
    Expired,
    /// A rotation's grace period (the previous secret) ends soon.
    GraceEnding,
    /// Refusals of the key above the threshold in one window.
    DeniedSpike,
    /// A successful use from a network not seen for the key lately.
    NewAddress,
}

impl NoticeKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::GraceEnding => "grace_ending",
            Self::DeniedSpike => "denied_spike",
            Self::NewAddress => "new_address",
        }
    }
}

/// The expiry notices of a deployment: days before expiry (default 30, 7
/// and 1), and how long before a rotation's grace period ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticePolicy {
    /// Largest first, no repeats, each at least 1.
    days: Vec<u32>,
    grace: Duration,
}

impl Default for NoticePolicy {
    fn default() -> Self {
        Self::new(&[30, 7, 1], 3600)
    }
}

impl NoticePolicy {
    pub fn new(days: &[u32], grace_seconds: u32) -> Self {
        let mut days: Vec<u32> = days.iter().copied().filter(|d| *d > 0).collect();
        days.sort_unstable_by(|a, b| b.cmp(a));
        days.dedup();
        Self {
            days,
            grace: Duration::seconds(i64::from(grace_seconds)),
        }
    }

    pub fn days(&self) -> &[u32] {
        &self.days
    }

    /// How far ahead expiries are looked for (the largest threshold).
    pub fn horizon(&self) -> Duration {
        Duration::days(i64::from(self.days.first().copied().unwrap_or(0))).max(self.grace)
    }

    /// The threshold (days) of the notice due for a key expiring at
    /// `expires_at`: the smallest one it is within. A key generated with
    /// five days left gets the 7-day notice, never the 30-day one; each
    /// threshold is told once (the caller records it).
    pub fn expiring(&self, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<u32> {
        if expires_at <= now {
            return None;
        }
        let left = expires_at - now;
        self.days
            .iter()
            .rev()
            .copied()
            .find(|d| left <= Duration::days(i64::from(*d)))
    }

    /// Whether a previous secret valid until `until` should be announced
    /// as ending.
    pub fn grace_ending(&self, until: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now < until && until - now <= self.grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_catalog_round_trips_by_name_and_in_json() {
        for e in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(e.as_str()), Some(e));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
            assert_eq!(serde_json::from_str::<WebhookEvent>(&json).unwrap(), e);
        }
        assert_eq!(WebhookEvent::parse("api_key.nope"), None);
    }

    #[test]
    fn a_filter_names_events_or_takes_all() {
        let all = EventFilter::parse::<&str>(&[]).unwrap();
        assert!(WebhookEvent::ALL.iter().all(|e| all.matches(*e)));
        let some = EventFilter::parse(&["api_key.revoked", " api_key.expiring", "api_key.revoked"])
            .unwrap();
        assert_eq!(
            some.to_strings(),
            vec!["api_key.revoked".to_owned(), "api_key.expiring".to_owned()]
        );
        assert!(some.matches(WebhookEvent::KeyRevoked));
        assert!(some.matches(WebhookEvent::Test));
        assert!(!some.matches(WebhookEvent::KeyCreated));
        for bad in ["api_key.nope", "webhook.test", ""] {
            let e = EventFilter::parse(&[bad]).unwrap_err();
            assert_eq!(e.field, Field::Events, "{bad}");
        }
    }

    #[test]
    fn urls_are_http_with_a_host_and_no_credentials() {
        for ok in [
            "https://hooks.example.com/keyward",
            "http://10.0.0.5:8080/x?y=1",
            "https://[2001:db8::1]/",
            "https://a-b.example/p%20q/r?x=1&y=%2F/?",
            "http://localhost:65535",
        ] {
            EndpointUrl::parse(ok).unwrap();
        }
        for bad in [
            "",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "not a url",
            "file:///etc/passwd",
            "https:///nohost",
            " https://example.com/",
            "HTTPS://example.com/",
            "https://1.2.3/",
            "https://256.1.1.1/",
            "https://-a.example/",
            "https://example.com:0/",
            "https://example.com:65536/",
            "https://example.com:08/",
            "https://example.com/a b",
            "https://example.com/%zz",
            "https://example.com/%2",
            "https://example.com?x=<",
            "https://[::1/",
            "https://[fe80::1%25eth0]/",
            "https://example.com:/",
        ] {
            let e = EndpointUrl::parse(bad).unwrap_err();
            assert_eq!(e.field, Field::Url, "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2000));
        assert_eq!(
            EndpointUrl::parse(&long).unwrap_err().invalid,
            Invalid::TooLong { max: 2000 }
        );
        let u = EndpointUrl::parse("http://127.0.0.1:9/").unwrap();
        assert_eq!(u.literal_ip(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(
            EndpointUrl::parse("https://example.com/")
                .unwrap()
                .literal_ip(),
            None
        );
    }

    #[test]
    fn only_public_addresses_unless_allowed() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
            "2001:db8::1",
            "64:ff9b:1::a9fe:a9fe",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::ffff:0:a9fe:a9fe",
            "::ffff:0:7f00:1",
            "fec0::1",
            "100::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2001:4860:4860::8888",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        let policy = AddressPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(policy.permits("127.0.0.1".parse().unwrap()));
        assert!(!policy.permits("10.0.0.1".parse().unwrap()));
        assert!(policy.permits("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn signatures_match_the_specifications_example() {
        // The example of the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(
            secret.expose().as_str(),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        );
        assert_eq!(format!("{secret:?}"), "WebhookSecret([redacted])");
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_none());
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
    }

    #[test]
    fn generated_secrets_and_ids_have_their_shape() {
        let mut rng = rand::rng();
        let s = WebhookSecret::generate(&mut rng);
        assert_eq!(s.bytes().len(), 24);
        let shown = s.expose();
        assert_eq!(WebhookSecret::parse(&shown), Some(s.clone()));
        assert_ne!(WebhookSecret::generate(&mut rng), s);
        let id = message_id(&mut rng);
        assert_eq!(id.len(), 30);
        assert!(id.starts_with("msg_"));
        assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn addresses_are_counted_in_their_site_network() {
        let net = |s: &str| network_of(s.parse().unwrap()).to_string();
        assert_eq!(net("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(net("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    }

    #[test]
    fn the_default_schedule_retries_for_more_than_a_day() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.next_delay(0, 0.5), None);
        let total: std::time::Duration = (1..s.attempts())
            .map(|n| s.next_delay(n, 0.0).unwrap())
            .sum();
        assert!(
            total >= std::time::Duration::from_secs(24 * 3600),
            "{total:?}"
        );
        assert_eq!(s.next_delay(s.attempts(), 0.5), None);
        assert_eq!(
            s.next_delay(1, 0.5),
            Some(std::time::Duration::from_secs(5))
        );
        let low = s.next_delay(2, 0.0).unwrap();
        let high = s.next_delay(2, 0.999_999).unwrap();
        assert!(low >= std::time::Duration::from_secs(270), "{low:?}");
        assert!(high <= std::time::Duration::from_secs(330), "{high:?}");
        assert!(high > low);
    }

    #[test]
    fn each_expiry_threshold_is_the_smallest_reached() {
        let p = NoticePolicy::default();
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let in_days = |d: i64| now + Duration::days(d);
        assert_eq!(p.expiring(in_days(31), now), None);
        assert_eq!(p.expiring(in_days(30), now), Some(30));
        assert_eq!(p.expiring(in_days(8), now), Some(30));
        assert_eq!(p.expiring(in_days(5), now), Some(7));
        assert_eq!(p.expiring(now + Duration::hours(3), now), Some(1));
        assert_eq!(p.expiring(now, now), None, "expired, not expiring");
        assert_eq!(p.horizon(), Duration::days(30));
        assert!(p.grace_ending(now + Duration::minutes(59), now));
        assert!(!p.grace_ending(now + Duration::minutes(61), now));
        assert!(!p.grace_ending(now - Duration::minutes(1), now));
        let odd = NoticePolicy::new(&[1, 14, 0, 14], 60);
        assert_eq!(odd.days(), &[14, 1]);
    }
}
