//! Escaping text for the two places it lands in the page.

/// Text for HTML element content or a double-quoted attribute.
pub(crate) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON placed inside a `<script>` element: a `</script>` (or `<!--`) inside a string would end
/// the element early, so every `<` is written as the JSON escape `\u003c`, which parses back to
/// the same string.
pub(crate) fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(html(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        assert_eq!(html("β = 30, lr 1e-3"), "β = 30, lr 1e-3");
    }

    #[test]
    fn script_json_cannot_close_the_script_element_and_parses_back() {
        let json = serde_json::to_string("</script><!--").unwrap();
        let safe = script_json(&json);
        assert!(!safe.contains('<'));
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "</script><!--");
    }
}
