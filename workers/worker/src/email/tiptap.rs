//! A TipTap (ProseMirror JSON) document as HTML: the StarterKit nodes and marks, links opening
//! in a new tab, inline images. Text and attributes are escaped; unknown nodes keep their
//! children and unknown marks are dropped, so an announcement never shows raw JSON.

use serde_json::Value;

/// Text escaped for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// Only web and mail links become `href`s (no `javascript:`).
fn safe_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    ["http://", "https://", "mailto:", "/", "#"]
        .iter()
        .any(|p| lower.starts_with(p))
}

fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a Value> {
    node.get("attrs")
        .and_then(|a| a.get(name))
        .filter(|v| !v.is_null())
}

fn attr_str<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
    attr(node, name).and_then(Value::as_str)
}

/// The whole document as HTML.
pub fn to_html(doc: &Value) -> String {
    let mut out = String::new();
    node(doc, &mut out);
    out
}

fn children(n: &Value, out: &mut String) {
    for c in n
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        node(c, out);
    }
}

fn wrap(n: &Value, tag: &str, out: &mut String) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    children(n, out);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn node(n: &Value, out: &mut String) {
    match n.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" => text(n, out),
        "paragraph" => wrap(n, "p", out),
        "heading" => {
            let level = attr(n, "level")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6);
            wrap(n, &format!("h{level}"), out);
        }
        "bulletList" => wrap(n, "ul", out),
        "orderedList" => match attr(n, "start").and_then(Value::as_u64) {
            Some(start) if start != 1 => {
                out.push_str(&format!("<ol start=\"{start}\">"));
                children(n, out);
                out.push_str("</ol>");
            }
            _ => wrap(n, "ol", out),
        },
        "listItem" => wrap(n, "li", out),
        "blockquote" => wrap(n, "blockquote", out),
        "codeBlock" => {
            match attr_str(n, "language") {
                Some(lang) => {
                    out.push_str(&format!("<pre><code class=\"language-{}\">", escape(lang)))
                }
                None => out.push_str("<pre><code>"),
            }
            children(n, out);
            out.push_str("</code></pre>");
        }
        "hardBreak" => out.push_str("<br>"),
        "horizontalRule" => out.push_str("<hr>"),
        "image" => {
            if let Some(src) =
                attr_str(n, "src").filter(|s| safe_url(s) || s.starts_with("data:image/"))
            {
                out.push_str(&format!("<img src=\"{}\"", escape(src)));
                for a in ["alt", "title"] {
                    if let Some(v) = attr_str(n, a) {
                        out.push_str(&format!(" {a}=\"{}\"", escape(v)));
                    }
                }
                out.push_str(" style=\"max-width: 100%; height: auto;\">");
            }
        }
        // doc and anything unknown: the children only.
        _ => children(n, out),
    }
}

fn text(n: &Value, out: &mut String) {
    let body = escape(n.get("text").and_then(Value::as_str).unwrap_or(""));
    let marks: Vec<&Value> = n
        .get("marks")
        .and_then(Value::as_array)
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let mut open = String::new();
    let mut close = Vec::new();
    for m in marks {
        let (start, end) = match m.get("type").and_then(Value::as_str).unwrap_or("") {
            "bold" => ("<strong>".to_string(), "</strong>"),
            "italic" => ("<em>".to_string(), "</em>"),
            "strike" => ("<s>".to_string(), "</s>"),
            "underline" => ("<u>".to_string(), "</u>"),
            "code" => ("<code>".to_string(), "</code>"),
            "link" => match attr_str(m, "href").filter(|h| safe_url(h)) {
                Some(href) => (
                    format!(
                        "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer nofollow\">",
                        escape(href)
                    ),
                    "</a>",
                ),
                None => continue,
            },
            _ => continue,
        };
        open.push_str(&start);
        close.push(end);
    }
    out.push_str(&open);
    out.push_str(&body);
    for end in close.iter().rev() {
        out.push_str(end);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn starter_kit_nodes_and_marks() {
        let doc = json!({"type": "doc", "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Maintenance"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Down "},
                {"type": "text", "marks": [{"type": "bold"}, {"type": "italic"}], "text": "tonight"},
                {"type": "hardBreak"},
                {"type": "text", "marks": [{"type": "link", "attrs": {"href": "https://status.example.com"}}], "text": "status"}
            ]},
            {"type": "bulletList", "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "a < b"}]}]}]},
            {"type": "orderedList", "attrs": {"start": 3}, "content": []},
            {"type": "codeBlock", "attrs": {"language": "sh"}, "content": [{"type": "text", "text": "tpctl status"}]},
            {"type": "image", "attrs": {"src": "https://x/y.png", "alt": "logo \"x\""}},
            {"type": "horizontalRule"}
        ]});
        assert_eq!(
            to_html(&doc),
            "<h2>Maintenance</h2><p>Down <strong><em>tonight</em></strong><br>\
             <a href=\"https://status.example.com\" target=\"_blank\" rel=\"noopener noreferrer nofollow\">status</a></p>\
             <ul><li><p>a &lt; b</p></li></ul><ol start=\"3\"></ol>\
             <pre><code class=\"language-sh\">tpctl status</code></pre>\
             <img src=\"https://x/y.png\" alt=\"logo &quot;x&quot;\" style=\"max-width: 100%; height: auto;\"><hr>"
        );
    }

    #[test]
    fn scripts_and_unknown_nodes_do_not_get_through() {
        let doc = json!({"type": "doc", "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "marks": [{"type": "link", "attrs": {"href": "javascript:alert(1)"}}], "text": "<script>"}
            ]},
            {"type": "mystery", "content": [{"type": "text", "text": "kept"}]}
        ]});
        assert_eq!(to_html(&doc), "<p>&lt;script&gt;</p>kept");
    }
}
