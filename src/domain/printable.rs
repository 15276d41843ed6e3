//! Text chosen by strangers (a registered client's name, a tried redirect URI, a client ID from
//! a Basic header) on its way to an operator's terminal or log viewer: control characters there
//! would move the cursor, rewrite the title, hide lines (ANSI escapes, CR) or reorder what is
//! shown (bidi overrides).

/// What a terminal or viewer acts on: C0 and C1 controls, DEL, and the bidi embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069).
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with each unsafe character written as a visible `\u{…}` escape: for values kept or
/// printed as evidence, where what was sent matters. Idempotent, so text escaped on its way
/// into the audit trail is not escaped again on its way out.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` without unsafe characters (whitespace controls become spaces), trimmed: for names
/// shown to people.
pub fn strip_controls(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if is_unsafe(c) => None,
            c => Some(c),
        })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_visibly_and_the_rest_is_kept() {
        assert_eq!(
            escape_controls("plain https://a.example/cb"),
            "plain https://a.example/cb"
        );
        assert_eq!(escape_controls("a\u{1b}[2Jb\u{7}"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(escape_controls("\u{202e}x\u{9b}"), "\\u{202e}x\\u{9b}");
        let once = escape_controls("a\u{1b}b");
        assert_eq!(escape_controls(&once), once, "idempotent");
        assert_eq!(escape_controls("Zoë 日本"), "Zoë 日本");
    }

    #[test]
    fn stripping_keeps_the_printable_part() {
        assert_eq!(
            strip_controls(" Notes\u{1b}[2J\u{7}\r\nGPT\u{202e} "),
            "Notes[2J  GPT"
        );
        assert_eq!(strip_controls("\u{1b}\u{7}"), "");
    }
}
