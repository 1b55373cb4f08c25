//! Text and numbers as they go into SVG markup.

use std::fmt;

/// `text` made safe for XML character data and for double- or single-quoted attribute values.
///
/// It is a `Display` wrapper rather than a `String` so that a chart writes escaped text straight
/// into its buffer, without one allocation per label.
pub fn escape(text: &str) -> Escaped<'_> {
    Escaped(text)
}

#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let mut clean = 0;
        for (i, c) in text.char_indices() {
            let replacement = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                // XML 1.0 cannot carry these at all, not even as character references, so a label
                // pasted with a stray control character would otherwise break the whole document.
                c if !allowed_in_xml(c) => "\u{FFFD}",
                _ => continue,
            };
            f.write_str(&text[clean..i])?;
            f.write_str(replacement)?;
            clean = i + c.len_utf8();
        }
        f.write_str(&text[clean..])
    }
}

/// The XML 1.0 `Char` production; Rust strings already exclude surrogates.
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A coordinate or value with at most one decimal and no trailing `.0`, which keeps a chart of
/// thousands of points small and its numbers stable across platforms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Num(pub(crate) f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 * 10.0).round();
        if !tenths.is_finite() {
            return f.write_str("0");
        }
        // Saturating: values this large never come from a chart's own arithmetic.
        #[allow(clippy::cast_possible_truncation)]
        let tenths = tenths as i64;
        // Digits are laid out right to left in a stack buffer and written once: a chart formats
        // tens of thousands of these, and going through `write!` for each part doubles the time.
        let mut buf = [0u8; 24];
        let mut at = buf.len();
        let mut push = |b: u8| {
            at -= 1;
            buf[at] = b;
        };
        let mut rest = tenths.unsigned_abs();
        let decimal = rest % 10;
        rest /= 10;
        if decimal != 0 {
            push(b'0' + decimal as u8);
            push(b'.');
        }
        loop {
            push(b'0' + (rest % 10) as u8);
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if tenths < 0 {
            push(b'-');
        }
        f.write_str(std::str::from_utf8(&buf[at..]).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            escape("<script>alert(1)</script>").to_string(),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            escape(r#"Tom & "Jerry" 'x'"#).to_string(),
            "Tom &amp; &quot;Jerry&quot; &#39;x&#39;"
        );
        assert_eq!(escape("&amp;").to_string(), "&amp;amp;");
    }

    #[test]
    fn plain_and_non_ascii_text_is_unchanged() {
        assert_eq!(escape("").to_string(), "");
        assert_eq!(escape("Dose 3").to_string(), "Dose 3");
        assert_eq!(
            escape("Schwere – 20–27 ✓ 😀").to_string(),
            "Schwere – 20–27 ✓ 😀"
        );
    }

    #[test]
    fn characters_xml_cannot_hold_become_replacement_characters() {
        assert_eq!(escape("a\u{0}b\u{1b}c").to_string(), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(escape("\u{FFFE}").to_string(), "\u{FFFD}");
        assert_eq!(escape("tab\tline\n").to_string(), "tab\tline\n");
    }

    #[test]
    fn numbers_have_at_most_one_decimal() {
        let cases = [
            (0.0, "0"),
            (12.0, "12"),
            (12.34, "12.3"),
            (12.36, "12.4"),
            (0.96, "1"),
            (-0.04, "0"),
            (-0.5, "-0.5"),
            (-12.25, "-12.3"),
            (f64::NAN, "0"),
            (f64::INFINITY, "0"),
            (1234567.89, "1234567.9"),
            // Saturates rather than wrapping or panicking.
            (1e30, "922337203685477580.7"),
            (-1e30, "-922337203685477580.8"),
        ];
        for (value, text) in cases {
            assert_eq!(Num(value).to_string(), text, "{value}");
        }
    }
}
