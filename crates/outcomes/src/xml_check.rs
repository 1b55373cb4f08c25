//! A strict well-formedness check for the subset of XML the charts emit (elements, quoted
//! attributes, text and the predefined or numeric entities), so tests need no XML dependency.
//! Anything outside that subset (comments, CDATA, doctype, processing instructions) is an error.

use std::collections::BTreeSet;

/// `Ok` with the number of elements when `doc` is one well-formed element.
pub(crate) fn check(doc: &str) -> Result<usize, String> {
    let mut open: Vec<&str> = Vec::new();
    let mut elements = 0;
    let mut rest = doc;
    while !rest.is_empty() {
        let at = doc.len() - rest.len();
        if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or(format!("unclosed end tag at {at}"))?;
            let name = after[..end].trim_end();
            match open.pop() {
                Some(expected) if expected == name => {}
                other => return Err(format!("</{name}> at {at} closes {other:?}")),
            }
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('<') {
            if elements > 0 && open.is_empty() {
                return Err(format!("a second root element at {at}"));
            }
            let (name, after) = split_name(after).ok_or(format!("bad tag name at {at}"))?;
            let (empty, after) = attributes(after).map_err(|e| format!("<{name}> at {at}: {e}"))?;
            elements += 1;
            if !empty {
                open.push(name);
            }
            rest = after;
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = &rest[..end];
            if open.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root element at {at}"));
            }
            character_data(text, false).map_err(|e| format!("text at {at}: {e}"))?;
            rest = &rest[end..];
        }
    }
    match (elements, open.last()) {
        (0, _) => Err("no element".into()),
        (_, Some(name)) => Err(format!("<{name}> is never closed")),
        (n, None) => Ok(n),
    }
}

fn split_name(s: &str) -> Option<(&str, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.')))
        .unwrap_or(s.len());
    let name = &s[..end];
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well.then_some((name, &s[end..]))
}

/// Parses attributes up to the end of a start tag; returns whether the element is empty (`/>`).
fn attributes(mut s: &str) -> Result<(bool, &str), String> {
    let mut seen = BTreeSet::new();
    loop {
        let trimmed = s.trim_start();
        if let Some(rest) = trimmed.strip_prefix("/>") {
            return Ok((true, rest));
        }
        if let Some(rest) = trimmed.strip_prefix('>') {
            return Ok((false, rest));
        }
        if trimmed.len() == s.len() {
            return Err("attributes must be separated by white space".into());
        }
        let (name, rest) = split_name(trimmed).ok_or("bad attribute name")?;
        if !seen.insert(name) {
            return Err(format!("duplicate attribute {name}"));
        }
        let rest = rest
            .strip_prefix('=')
            .ok_or(format!("{name} has no value"))?;
        let quote = rest
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\''))
            .ok_or(format!("{name} is not quoted"))?;
        let rest = &rest[1..];
        let end = rest.find(quote).ok_or(format!("{name} is not closed"))?;
        character_data(&rest[..end], true).map_err(|e| format!("{name}: {e}"))?;
        s = &rest[end + 1..];
    }
}

fn character_data(text: &str, in_attribute: bool) -> Result<(), String> {
    if in_attribute && text.contains('<') {
        return Err("raw '<'".into());
    }
    if text.contains("]]>") {
        return Err("']]>' in text".into());
    }
    if let Some(c) = text
        .chars()
        .find(|&c| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..))
    {
        return Err(format!("character {c:?} is not allowed in XML"));
    }
    let mut pieces = text.split('&');
    pieces.next();
    for piece in pieces {
        let end = piece.find(';').ok_or("'&' is not an entity")?;
        let entity = &piece[..end];
        let known = matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos")
            || entity
                .strip_prefix("#x")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            || entity
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
        if !known {
            return Err(format!("unknown entity &{entity};"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_well_formed_documents() {
        assert_eq!(
            check(r#"<svg a="1"><g><title>x &amp; y</title></g><line b='2'/></svg>"#),
            Ok(4)
        );
        assert_eq!(check("<a>&#39;&#x27;&lt;</a>"), Ok(1));
    }

    #[test]
    fn rejects_what_a_parser_would_reject() {
        for bad in [
            "",
            "text",
            "<a>",
            "<a></b>",
            "<a><b></a></b>",
            "<a></a><b/>",
            "<a x=1/>",
            r#"<a x="1" x="2"/>"#,
            r#"<a x="1"y="2"/>"#,
            r#"<a x="<"/>"#,
            "<a>&</a>",
            "<a>&nbsp;</a>",
            "<a><</a>",
            "<a>\u{1}</a>",
            "<!-- c --><a/>",
            "<1a/>",
        ] {
            assert!(check(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
