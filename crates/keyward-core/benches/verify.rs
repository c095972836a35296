//! parse + digest + verify of one key, as on every integrator request.

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use keyward_core::digest::{HashingSecret, KeyHasher};
use keyward_core::fields::{IpAllowlist, KeyName};
use keyward_core::key::KeyFormat;
use keyward_core::lifecycle::{GroupChoice, KeyQuota, NewKey, generate};
use keyward_core::permission::{GroupKind, PermissionCatalog};
use keyward_core::verify::{KeyRecord, Verifier};
use rand::SeedableRng;
use std::hint::black_box;
use std::net::IpAddr;

fn bench(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let now = Utc
        .with_ymd_and_hms(2026, 1, 10, 10, 0, 0)
        .single()
        .unwrap_or_default();
    let hasher = KeyHasher::new(&HashingSecret::generate(&mut rng));
    let format = KeyFormat::default();
    let input = NewKey {
        name: KeyName::parse("bench").unwrap_or_else(|_| unreachable!()),
        description: None,
        group: Some(
            GroupChoice::new(1, GroupKind::TenantApiKey).unwrap_or_else(|_| unreachable!()),
        ),
        permissions: Default::default(),
        ip_allowlist: IpAllowlist::parse_lines("10.0.0.0/8\n2001:db8::/32").unwrap_or_default(),
        expires_at: None,
        rate_limit: None,
    };
    let Ok((key, secret)) = generate(
        1,
        KeyQuota::default(),
        0,
        input,
        "bench",
        &format,
        &hasher,
        now,
        &mut rng,
    ) else {
        unreachable!()
    };
    let perms = PermissionCatalog::default()
        .permission_set(&["customers:read"])
        .unwrap_or_default();
    let record = KeyRecord::new(&key, Some((&perms, None)));
    let verifier = Verifier::new(format.clone(), hasher.clone());
    let ip: IpAddr = [10, 1, 2, 3].into();
    let presented = secret.expose().to_owned();

    c.bench_function("parse", |b| {
        b.iter(|| format.parse(black_box(&presented)).is_ok())
    });
    c.bench_function("parse+digest", |b| {
        b.iter(|| {
            format
                .parse(black_box(&presented))
                .map(|p| hasher.digest(&p))
                .is_ok()
        })
    });
    c.bench_function("parse+digest+verify", |b| {
        b.iter(|| {
            verifier
                .verify(
                    black_box(&presented),
                    |_| Some(&record),
                    ip,
                    &["customers:read"],
                    now,
                )
                .is_ok()
        })
    });
    c.bench_function("malformed", |b| {
        b.iter(|| {
            verifier
                .verify(
                    black_box("sk_live_garbage"),
                    |_| Some(&record),
                    ip,
                    &["x"],
                    now,
                )
                .is_err()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
