//! The sign-in throttling policy: how many unsuccessful password attempts
//! each scope may make in a window, and which attempt is refused unhashed.
//!
//! Three counts, each of attempts that have not succeeded within a fixed
//! window (15 minutes by default). An attempt is counted *before* its
//! password is hashed — it reserves its place — and a success gives the
//! reservation back, so parallel requests cannot race past a limit:
//!
//! - per (username, address): the strict limit (default 5);
//! - per address, whatever the usernames: a higher one (default 50), against
//!   one password sprayed over many usernames;
//! - per username, across addresses: once it passes a threshold (default
//!   20) the username is *under attack*, and each address then gets one
//!   attempt at it per window. An address that has not failed for the
//!   username in the window is never refused on the username's account, so
//!   nobody can lock a user out, while a botnet gets one guess per address
//!   per window instead of five.
//!
//! Addresses count per network ([`ClientAddr::network`]: IPv6 per /64).

use crate::fields::ClientAddr;
use crate::user::Username;

/// The limits (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInPolicy {
    /// Unsuccessful attempts per (username, address) and window.
    pub per_user_address: u32,
    /// Unsuccessful attempts per address and window, over all usernames.
    pub per_address: u32,
    /// Unsuccessful attempts at one username, over all addresses, past which
    /// each address gets one attempt at it per window.
    pub user_under_attack: u32,
    /// The window, in seconds.
    pub window_seconds: u32,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self {
            per_user_address: 5,
            per_address: 50,
            user_under_attack: 20,
            window_seconds: 15 * 60,
        }
    }
}

/// What one attempt is counted against: the address's network, and the
/// username folded to lower case when it can be a username at all (a name
/// that cannot match no account and has no count of its own; the address
/// still counts it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInScopes {
    pub username: Option<String>,
    pub address: String,
}

impl SignInScopes {
    pub fn of(username: &str, client: ClientAddr) -> Self {
        Self {
            username: Username::parse(username)
                .ok()
                .map(|u| u.as_str().to_lowercase()),
            address: client.network().to_string(),
        }
    }
}

/// The counts of the scopes *including* the attempt being judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignInCounts {
    pub user_address: u32,
    pub address: u32,
    pub user: u32,
}

/// Which limit refused an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInLimit {
    UserAddress,
    Address,
    UserUnderAttack,
}

impl SignInPolicy {
    /// Whether the attempt may have its password checked.
    pub fn judge(&self, c: SignInCounts) -> Result<(), SignInLimit> {
        if c.address > self.per_address {
            return Err(SignInLimit::Address);
        }
        if c.user_address > self.per_user_address {
            return Err(SignInLimit::UserAddress);
        }
        // Under attack, an address that has already tried this username in
        // the window (it holds an earlier reservation) waits for the next.
        if c.user > self.user_under_attack && c.user_address > 1 {
            return Err(SignInLimit::UserUnderAttack);
        }
        Ok(())
    }

    /// The most attempts whose password is hashed in one window, for
    /// `addresses` networks each trying `usernames` usernames (one
    /// username under attack or not): what the abuse benchmark checks.
    pub fn most_hashed(&self, addresses: u32, usernames: u32) -> u32 {
        addresses * (usernames * self.per_user_address).min(self.per_address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn counts(user_address: u32, address: u32, user: u32) -> SignInCounts {
        SignInCounts {
            user_address,
            address,
            user,
        }
    }

    #[test]
    fn the_strict_limit_is_per_username_and_address() {
        let p = SignInPolicy::default();
        for n in 1..=5 {
            assert_eq!(p.judge(counts(n, n, n)), Ok(()));
        }
        assert_eq!(p.judge(counts(6, 6, 6)), Err(SignInLimit::UserAddress));
        // Another username from the same address still may.
        assert_eq!(p.judge(counts(1, 7, 1)), Ok(()));
        assert_eq!(p.judge(counts(1, 51, 1)), Err(SignInLimit::Address));
    }

    #[test]
    fn under_attack_an_address_that_has_not_failed_is_never_refused_for_the_username() {
        let p = SignInPolicy::default();
        // A username with a million failures elsewhere: a clean address gets its attempt.
        assert_eq!(p.judge(counts(1, 1, 1_000_000)), Ok(()));
        // An address that already tried waits for the next window.
        assert_eq!(
            p.judge(counts(2, 2, 1_000_000)),
            Err(SignInLimit::UserUnderAttack)
        );
        // Below the threshold, the strict limit alone.
        assert_eq!(p.judge(counts(2, 2, 20)), Ok(()));
    }

    #[test]
    fn scopes_fold_the_username_and_count_ipv6_per_64() {
        let ip = |s: &str| ClientAddr::from(s.parse::<IpAddr>().unwrap());
        let s = SignInScopes::of("Alice", ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(s.username.as_deref(), Some("alice"));
        assert_eq!(s.address, "2001:db8:1:2::");
        assert_eq!(
            SignInScopes::of("x", ip("2001:db8:1:2:bbbb::2")).address,
            s.address
        );
        assert_ne!(
            SignInScopes::of("x", ip("2001:db8:1:3::1")).address,
            s.address
        );
        assert_eq!(
            SignInScopes::of("x", ip("::ffff:1.2.3.4")).address,
            "1.2.3.4"
        );
        assert_eq!(
            SignInScopes::of("x", ClientAddr::UNKNOWN).address,
            "unknown"
        );
        // A name that cannot be a username (too long, odd characters) has no scope.
        assert_eq!(
            SignInScopes::of(&"a".repeat(65), ip("1.2.3.4")).username,
            None
        );
        assert_eq!(SignInScopes::of("a b", ip("1.2.3.4")).username, None);
    }

    #[test]
    fn the_most_hashed_is_bounded_by_both_limits() {
        let p = SignInPolicy::default();
        assert_eq!(p.most_hashed(100, 1), 500);
        assert_eq!(p.most_hashed(100, 1_000), 5_000);
    }
}
