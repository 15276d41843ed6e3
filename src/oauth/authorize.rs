//! The authorization endpoint's protocol rules (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2),
//! apart from HTTP: the web handler reads the request and writes the response.

use super::request::Params;
use crate::domain::Scope;
use crate::store::{ClientRecord, UserRecord};

/// Whether the client admits only proven e-mail addresses and this user has not proven theirs.
pub fn needs_verified_email(client: &ClientRecord, user: &UserRecord) -> bool {
    client.require_verified_email && user.email_verified_at.is_none()
}

/// `offline_access` (OpenID Connect Core §11) asks for a refresh token, which every grant here
/// has: accepted, and taken out before the scope is checked against the client's. A request
/// for only it means the client's default scopes.
pub fn drop_offline_access(params: &mut Params) {
    let Some(scope) = params.get("scope").and_then(|raw| Scope::parse(raw).ok()) else {
        return;
    };
    if !scope.has_offline_access() {
        return;
    }
    let rest = scope.without_offline_access();
    if rest.is_empty() {
        params.remove("scope");
    } else {
        params.insert("scope", &rest.to_string());
    }
}
