//! Taking a secret (the provider key) out of bytes on their way to a client,
//! in every spelling a JSON reader would turn back into the secret.
//!
//! An upstream may echo the key it was sent: raw, or inside a JSON string
//! where any character may be written as a `\uXXXX` escape (upper- or
//! lower-case hex) or, for `"`, `\`, `/` and the control characters, as a
//! short escape (`\/`, `\n`, ...). The client's JSON parser decodes each of
//! those back into the key, so each of them is replaced by [`REDACTED`]. A
//! backslash that is itself escaped (`\\`) starts no escape, so the text
//! after it is read as a JSON reader reads it.
//!
//! [`Redactor`] works on a stream: the end of a chunk that could begin the
//! secret, in any spelling (at most six bytes per character of the secret),
//! waits for the next chunk, so a secret split across chunks is caught too.

/// What the secret is replaced with. Safe inside a JSON string.
pub const REDACTED: &[u8] = b"[redacted]";

/// How the secret's spelling at one position of a buffer ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spelling {
    /// The secret, spelled over this many bytes.
    Whole(usize),
    /// The buffer ends inside what could still be the secret.
    Unfinished,
    /// Not the secret.
    No,
}

/// The byte a JSON short escape `\c` stands for.
fn short_escape(c: u8) -> Option<u8> {
    Some(match c {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0C,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        _ => return None,
    })
}

/// The secret's spelling starting at `buf[at]`, if it is one.
fn spelling_at(secret: &[u8], buf: &[u8], at: usize) -> Spelling {
    let mut i = at;
    for &want in secret {
        let Some(&b) = buf.get(i) else {
            return Spelling::Unfinished;
        };
        if b == want {
            i += 1;
            continue;
        }
        if b != b'\\' {
            return Spelling::No;
        }
        let Some(&kind) = buf.get(i + 1) else {
            return Spelling::Unfinished;
        };
        if kind == b'u' {
            let digits = &buf[(i + 2).min(buf.len())..(i + 6).min(buf.len())];
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return Spelling::No;
            }
            if digits.len() < 4 {
                return Spelling::Unfinished;
            }
            let text = std::str::from_utf8(digits).unwrap_or("");
            if u32::from_str_radix(text, 16).ok() != Some(u32::from(want)) {
                return Spelling::No;
            }
            i += 6;
        } else if short_escape(kind) == Some(want) {
            i += 2;
        } else {
            return Spelling::No;
        }
    }
    Spelling::Whole(i - at)
}

/// Replaces every spelling of a secret in the bytes it is fed, keeping back
/// only what could still become one.
#[derive(Clone, Debug)]
pub struct Redactor {
    secret: Vec<u8>,
    /// Bytes fed but not yet given out (a possible beginning of the secret).
    held: Vec<u8>,
    /// True when the byte before `held` is a backslash that starts an
    /// escape (so `held[0]` is that escape's second character).
    escaped: bool,
}

impl Redactor {
    /// A redactor for `secret` (an empty one redacts nothing).
    pub fn new(secret: &str) -> Redactor {
        Redactor {
            secret: secret.as_bytes().to_vec(),
            held: Vec::new(),
            escaped: false,
        }
    }

    /// Takes the next bytes; returns those that are safe to give out now.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        if self.secret.is_empty() {
            return bytes.to_vec();
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(bytes);
        self.scan(buf, false)
    }

    /// The stream ended: what was kept back (it cannot be the whole secret).
    pub fn finish(&mut self) -> Vec<u8> {
        let buf = std::mem::take(&mut self.held);
        self.scan(buf, true)
    }

    /// `bytes` with every spelling of `secret` replaced, all at once.
    pub fn redact_all(secret: &str, bytes: &[u8]) -> Vec<u8> {
        let mut redactor = Redactor::new(secret);
        let mut out = redactor.feed(bytes);
        out.extend(redactor.finish());
        out
    }

    fn scan(&mut self, buf: Vec<u8>, last: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(buf.len());
        let mut escaped = self.escaped;
        let mut i = 0;
        while i < buf.len() {
            if !escaped {
                // A run of bytes that neither begins the secret nor an
                // escape is copied as it is.
                let run = buf[i..]
                    .iter()
                    .position(|&b| b == self.secret[0] || b == b'\\')
                    .unwrap_or(buf.len() - i);
                out.extend_from_slice(&buf[i..i + run]);
                i += run;
                if i == buf.len() {
                    break;
                }
            }
            let b = buf[i];
            // The second byte of an escape is never where a spelling starts.
            let could_start = !escaped && (b == self.secret[0] || b == b'\\');
            if could_start {
                match spelling_at(&self.secret, &buf, i) {
                    Spelling::Whole(len) => {
                        out.extend_from_slice(REDACTED);
                        i += len;
                        escaped = false;
                        continue;
                    }
                    Spelling::Unfinished if !last => {
                        // Wait for more bytes, from here on.
                        self.held = buf[i..].to_vec();
                        self.escaped = false;
                        return out;
                    }
                    _ => {}
                }
            }
            escaped = !escaped && b == b'\\';
            out.push(b);
            i += 1;
        }
        self.escaped = escaped;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test/KEY-42";

    fn redact(text: &str) -> String {
        String::from_utf8(Redactor::redact_all(KEY, text.as_bytes())).unwrap()
    }

    /// Feeds `text` cut at every position into two chunks.
    fn each_split(text: &str, check: impl Fn(String)) {
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut r = Redactor::new(KEY);
            let mut out = r.feed(&bytes[..cut]);
            out.extend(r.feed(&bytes[cut..]));
            out.extend(r.finish());
            check(String::from_utf8(out).unwrap());
        }
    }

    #[test]
    fn the_raw_key_is_replaced() {
        assert_eq!(redact("key sk-test/KEY-42 sent"), "key [redacted] sent");
    }

    #[test]
    fn unicode_escapes_of_any_character_in_either_case_are_replaced() {
        for text in [
            r#"{"k":"sk\u002dtest/KEY-42"}"#,
            r#"{"k":"\u0073\u006B\u002d\u0074\u0065\u0073\u0074\u002f\u004b\u0045\u0059\u002D\u0034\u0032"}"#,
            r#"{"k":"sk-test\/KEY-42"}"#,
        ] {
            assert_eq!(redact(text), r#"{"k":"[redacted]"}"#, "{text}");
        }
    }

    #[test]
    fn what_a_json_reader_decodes_to_the_key_is_exactly_what_is_replaced() {
        let json = r#"{"a":"sk\u002dtest\/KEY\u002d42","b":"sk-test/KEY-41"}"#;
        let decoded: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(decoded["a"], KEY, "the sample does decode to the key");
        let redacted: serde_json::Value = serde_json::from_str(&redact(json)).unwrap();
        assert_eq!(redacted["a"], "[redacted]");
        assert_eq!(redacted["b"], "sk-test/KEY-41", "a near miss is left alone");
    }

    #[test]
    fn an_escaped_backslash_starts_no_escape() {
        // `\\u0073k-...` reads as a backslash, then the text "u0073k-...":
        // not the key, and left as it was (still valid JSON).
        let json = r#"{"k":"\\u0073k-test/KEY-42"}"#;
        assert_eq!(redact(json), json);
        // But the raw key right after an escaped backslash is the key.
        assert_eq!(redact(r#""\\sk-test/KEY-42""#), r#""\\[redacted]""#);
    }

    #[test]
    fn a_key_split_across_chunks_in_any_spelling_is_caught() {
        for text in [
            "data: sk-test/KEY-42\n\n",
            "data: {\"x\":\"sk\\u002dtest\\/KEY-42\"}\n\n",
            "data: \\u0073\\u006b-test/KEY-42\n\n",
        ] {
            each_split(text, |out| {
                assert!(out.contains("[redacted]"), "{text:?} -> {out:?}");
                assert!(!out.contains("KEY-42"), "{text:?} -> {out:?}");
            });
        }
    }

    #[test]
    fn text_that_only_begins_like_the_key_passes_whole() {
        for text in ["sk-test/KE", "sk\\u002", "ends with s", "\\", "a\\u00zz"] {
            each_split(text, |out| assert_eq!(out, text));
        }
    }

    #[test]
    fn an_empty_secret_redacts_nothing() {
        assert_eq!(Redactor::redact_all("", b"anything"), b"anything");
    }
}
