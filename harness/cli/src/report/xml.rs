//! Escaping text for XML, SVG and HTML: JUnit reports (`gate`), the SVG
//! charts and the audit's HTML all write through these two functions.

/// Whether XML 1.0 allows `c` in a document at all (`Char` production;
/// Rust `char`s are never surrogates).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` as XML character data: `& < > " '` escaped, `\r` as a character
/// reference (a raw one would be normalised to `\n`), and characters XML 1.0
/// forbids (controls other than tab, newline and carriage return; U+FFFE,
/// U+FFFF) removed.
pub fn escape_text(s: &str) -> String {
    escape(s, false)
}

/// `s` as an XML attribute value (inside double or single quotes): as
/// [`escape_text`], and tab and newline as character references too, since a
/// parser would turn raw ones into spaces.
pub fn escape_attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}
