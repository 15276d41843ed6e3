//! The messages, from `templates/email/` (a text and an HTML part each). Wording is kept in
//! the templates, so that translating means adding templates, not touching code.

use askama::Template;

/// A rendered message.
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn render(subject: String, text: &impl Template, html: &impl Template) -> Message {
    // A template that fails to render is a bug caught by the tests; mail without a body
    // would be worse than a plain fallback.
    Message {
        subject,
        text: text
            .render()
            .unwrap_or_else(|e| format!("(message unavailable: {e})")),
        html: html.render().unwrap_or_default(),
    }
}

macro_rules! message {
    ($name:ident, $text:literal, $html:literal, { $($field:ident: $ty:ty),* $(,)? }) => {
        pub struct $name {
            $(pub $field: $ty,)*
        }

        impl $name {
            pub fn message(&self, subject: String) -> Message {
                #[derive(Template)]
                #[template(path = $text)]
                struct Text<'a> { m: &'a $name }
                #[derive(Template)]
                #[template(path = $html)]
                struct Html<'a> { m: &'a $name }
                render(subject, &Text { m: self }, &Html { m: self })
            }
        }
    };
}

message!(VerifyEmail, "email/verify.txt", "email/verify.html", {
    link: String,
    client_name: Option<String>,
});

message!(ResetPassword, "email/reset.txt", "email/reset.html", {
    link: String,
});

message!(ConfirmNewAddress, "email/change.txt", "email/change.html", {
    link: String,
    new_email: String,
});

message!(ChangeNotice, "email/change_notice.txt", "email/change_notice.html", {
    new_email: String,
    secure_link: String,
});

impl VerifyEmail {
    pub fn build(&self) -> Message {
        self.message("Confirm your e-mail address".into())
    }
}

impl ResetPassword {
    pub fn build(&self) -> Message {
        self.message("Reset your password".into())
    }
}

impl ConfirmNewAddress {
    pub fn build(&self) -> Message {
        self.message("Confirm your new e-mail address".into())
    }
}

impl ChangeNotice {
    pub fn build(&self) -> Message {
        self.message("Your e-mail address is changing".into())
    }
}
