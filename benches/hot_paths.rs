//! The hot paths of a sign-in and a refresh, measured in isolation (`cargo bench`): JWT signing
//! and verification, hashing machine-made secrets (SHA-256, not argon2), token generation,
//! form parsing, and argon2id (what a password sign-in costs at least).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gptauth::crypto;
use gptauth::oauth::Params;
use gptauth::store::Db;
use gptauth::tokens::{AccessClaims, Audience, Keys, sign_access_token, verify_access_token};

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "https://auth.example.com".into(),
        sub: "0193e3a4-5b6c-7d8e-9f00-112233445566".into(),
        aud: Audience::One("https://api.example.com".into()),
        exp: gptauth::store::now() + 3600,
        iat: gptauth::store::now(),
        jti: "0193e3a4-5b6c-7d8e-9f00-665544332211".into(),
        client_id: "gpt_0123456789abcdef0123456789abcdef".into(),
        scope: "email openid profile".into(),
        email: Some("ada@example.com".into()),
        email_verified: Some(true),
    }
}

fn hot_paths(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = std::env::temp_dir().join(format!("gptauth-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let keys = runtime.block_on(async {
        let db = Db::connect(&format!("sqlite://{}", dir.join("bench.db").display()))
            .await
            .expect("db");
        Keys::load_or_create(&db, 3600, Default::default())
            .await
            .expect("keys")
    });
    let set = keys.current();
    let token = sign_access_token(&set, &claims()).expect("sign");

    c.bench_function("jwt_sign_es256", |b| {
        b.iter(|| sign_access_token(&set, black_box(&claims())).expect("sign"))
    });
    c.bench_function("jwt_verify_es256", |b| {
        b.iter(|| {
            verify_access_token(&set, "https://auth.example.com", black_box(&token))
                .expect("verify")
        })
    });
    c.bench_function("secret_digest_sha256", |b| {
        let secret = crypto::random_token();
        b.iter(|| crypto::digest(black_box(&secret)))
    });
    c.bench_function("random_token_256_bit", |b| b.iter(crypto::random_token));
    let form = "grant_type=refresh_token&refresh_token=kQ2m9v0n3Xc7yZ1aB4dE6fG8hJ0kL2mN4pQ6rS8tU0w\
                &client_id=gpt_0123456789abcdef0123456789abcdef&client_secret=s3cr3t-s3cr3t-s3cr3t";
    c.bench_function("form_parse_token_request", |b| {
        b.iter(|| Params::parse(black_box(form.as_bytes())).expect("parse"))
    });
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(10);
    group.bench_function("hash", |b| {
        b.iter(|| gptauth::app::hasher::hash_blocking(black_box("correct horse battery staple")))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
