//! Text the rules accept from callers (features, end users, providers,
//! models): what reads as it is written, header values read as UTF-8, and
//! text written out as CSV fields.

/// True when `s` may be an id a caller names (a feature, an end user): 1
/// to `max` characters, [`shown_as_written`].
pub fn valid_id(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && shown_as_written(s)
}

/// True when `s` reads on a page or in a spreadsheet as it is written: no
/// control characters, and none of the invisible formatting characters that
/// make text lie about itself (bidirectional overrides, embeddings, isolates
/// and marks such as U+202E, zero-width characters, the byte order mark,
/// the soft hyphen).
///
/// # Example
/// ```
/// use ai_budget::text::shown_as_written;
///
/// assert!(shown_as_written("résumé-ocr"));
/// assert!(!shown_as_written("\u{202E}fdp.exe"));
/// assert!(!shown_as_written("ad\u{200B}min"));
/// ```
pub fn shown_as_written(s: &str) -> bool {
    !s.chars().any(|c| {
        c.is_control()
            || matches!(
                c,
                '\u{00AD}'
                    | '\u{061C}'
                    | '\u{180E}'
                    | '\u{200B}'..='\u{200F}'
                    | '\u{202A}'..='\u{202E}'
                    | '\u{2060}'..='\u{2064}'
                    | '\u{2066}'..='\u{206F}'
                    | '\u{FEFF}'
                    | '\u{FFF9}'..='\u{FFFB}'
            )
    })
}

/// A request header's value as the client wrote it, in UTF-8; `None` when
/// its bytes were not UTF-8.
///
/// Runtimes hand header values over in one of two ways: already decoded
/// from UTF-8 (workerd does; bytes that are not UTF-8 then show as U+FFFD),
/// or one character per byte, as the Fetch standard's byte strings are.
/// A value of the second kind whose bytes are UTF-8 is put back together
/// (`Ã©tÃ©` is `été`); anything with U+FFFD was not UTF-8.
///
/// # Example
/// ```
/// use ai_budget::text::header_value;
///
/// assert_eq!(header_value("été").as_deref(), Some("été"));
/// assert_eq!(header_value("Ã©tÃ©").as_deref(), Some("été"));
/// assert_eq!(header_value("\u{FFFD}t\u{FFFD}"), None);
/// ```
pub fn header_value(raw: &str) -> Option<String> {
    if raw.is_ascii() {
        return Some(raw.to_owned());
    }
    if raw.contains('\u{FFFD}') {
        return None;
    }
    let bytes: Option<Vec<u8>> = raw.chars().map(|c| u8::try_from(c).ok()).collect();
    match bytes.map(String::from_utf8) {
        Some(Ok(decoded)) => Some(decoded),
        // Characters beyond one byte, or bytes that are not UTF-8: the
        // runtime already decoded it.
        _ => Some(raw.to_owned()),
    }
}

/// One CSV field, quoted when it must be. A cell a spreadsheet would read
/// as a formula (starting with `=`, `+`, `-`, `@`, tab or CR: OWASP's list)
/// is prefixed with `'`, since port-key holders write these fields.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_accented_text_reads_as_written() {
        for s in ["ocr", "chat-v2", "été", "東京", "user@example.com"] {
            assert!(shown_as_written(s), "{s}");
        }
    }

    #[test]
    fn controls_and_invisible_formatting_do_not() {
        for c in [
            '\0', '\n', '\u{7F}', '\u{85}', '\u{200B}', '\u{200D}', '\u{200E}', '\u{202A}',
            '\u{202E}', '\u{2066}', '\u{2069}', '\u{FEFF}', '\u{AD}',
        ] {
            assert!(!shown_as_written(&format!("a{c}b")), "{:04X}", c as u32);
        }
    }

    #[test]
    fn header_values_decode_whichever_way_the_runtime_hands_them_over() {
        assert_eq!(header_value("plain").as_deref(), Some("plain"));
        assert_eq!(header_value("Zoë").as_deref(), Some("Zoë"));
        assert_eq!(header_value("ZoÃ«").as_deref(), Some("Zoë"));
        assert_eq!(header_value("東京").as_deref(), Some("東京"));
        assert_eq!(header_value("æ\u{9d}±äº¬").as_deref(), Some("東京"));
        assert_eq!(header_value("a\u{FFFD}"), None);
    }
}
