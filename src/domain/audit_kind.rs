//! What happened, in the audit trail: one closed set of event kinds. The stored name of each is
//! part of the contract (`gptauth audit --kind`, log collectors, the portal), so a kind is
//! renamed only with a migration of the rows.

use std::fmt;

macro_rules! kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// A kind of security event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AuditKind {
            $($variant,)*
        }

        impl AuditKind {
            /// Every kind, in the order declared.
            pub const ALL: &[AuditKind] = &[$(AuditKind::$variant,)*];

            /// The name stored and shown.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditKind::$variant => $name,)*
                }
            }

            /// The kind a stored name stands for; `None` for one this version does not know
            /// (a row written by a newer release).
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(AuditKind::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    AccountDeleted => "account_deleted",
    AccountDeleteFailed => "account_delete_failed",
    AccountSecured => "account_secured",
    AccessTokenRevoked => "access_token_revoked",
    BuilderRoleGranted => "builder_role_granted",
    BuilderRoleWithdrawn => "builder_role_withdrawn",
    ClientAuthFailed => "client_auth_failed",
    ClientCreated => "client_created",
    ClientDeleted => "client_deleted",
    ClientRedirectsChanged => "client_redirects_changed",
    ClientRegistered => "client_registered",
    ClientSecretRotated => "client_secret_rotated",
    ClientUpdated => "client_updated",
    CodeIssued => "code_issued",
    CodeReplayed => "code_replayed",
    ConsentDenied => "consent_denied",
    ConsentGranted => "consent_granted",
    ConsentWithdrawn => "consent_withdrawn",
    EmailChangeFailed => "email_change_failed",
    EmailChangeRequested => "email_change_requested",
    EmailChanged => "email_changed",
    EmailVerified => "email_verified",
    FirstAdminCreated => "first_admin_created",
    LoginFailed => "login_failed",
    LoginLocked => "login_locked",
    LoginSucceeded => "login_succeeded",
    LoginThrottled => "login_throttled",
    Logout => "logout",
    LogoutEverywhere => "logout_everywhere",
    PasswordChangeFailed => "password_change_failed",
    PasswordChanged => "password_changed",
    PasswordReset => "password_reset",
    PasswordResetLinkIssued => "password_reset_link_issued",
    PasswordResetRequested => "password_reset_requested",
    RedirectUriMismatch => "redirect_uri_mismatch",
    RefreshReuseDetected => "refresh_reuse_detected",
    RefreshTokenRevoked => "refresh_token_revoked",
    TokenIssued => "token_issued",
    TokenRefreshed => "token_refreshed",
    UserCreated => "user_created",
    UserDisabled => "user_disabled",
    UserSignedUp => "user_signed_up",
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::AuditKind;

    #[test]
    fn every_kind_parses_back_from_its_name() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(AuditKind::parse("no_such_kind"), None);
    }
}
