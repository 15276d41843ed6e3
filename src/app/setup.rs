//! The first administrator: a one-time setup link, while there is none.

use super::App;

/// How long a setup link works.
const SETUP_LINK_SECONDS: i64 = 3600;

/// Mints a one-time link that creates the first administrator in the browser.
pub async fn new_setup_link(state: &App) -> Result<String, crate::store::StoreError> {
    let token = crate::crypto::random_token();
    state
        .db
        .insert_setup_link(
            &crate::crypto::digest(&token),
            state.db.now() + SETUP_LINK_SECONDS,
        )
        .await?;
    Ok(state.config.issuer.url(&format!("/setup?token={token}")))
}

/// While there is no administrator, logs a setup link. The one secret this server ever logs,
/// on purpose: it is short-lived, single-use, and only useful before anyone can sign in.
pub async fn offer_setup_link(state: &App) {
    match state.db.any_admin().await {
        Ok(true) => {}
        Ok(false) => match new_setup_link(state).await {
            Ok(link) => tracing::warn!(
                "no administrator yet: open {link} within the hour to create one (or run `gptauth user create --admin`)"
            ),
            Err(e) => tracing::warn!(error = %e, "could not create a setup link"),
        },
        Err(e) => tracing::warn!(error = %e, "could not check for an administrator"),
    }
}
