//! Jira's Atlassian Document Format as the HTML TestPlanIt stores in `"Issue".description`:
//! the same elements, escaping and quirks as its Jira adapter (a paragraph in a list item is
//! inlined; a code block's content is escaped as a whole; marks wrap in the order given;
//! unknown nodes keep their children), so a synced description reads as Node wrote it.

use serde_json::Value;

use crate::email::tiptap::escape;
use crate::search::text::{js_string, truthy};

/// The `description` of a Jira issue: HTML for an ADF document, the text itself otherwise
/// (Jira Server's REST v2 sends wiki-markup strings), `None` when there is none.
pub fn description(v: Option<&Value>) -> Option<String> {
    let v = v.filter(|v| truthy(v))?;
    if v.get("type").and_then(Value::as_str) == Some("doc")
        && let Some(content) = v.get("content").filter(|c| truthy(c))
    {
        return Some(children(content).trim().to_string());
    }
    Some(js_string(v))
}

fn children(content: &Value) -> String {
    match content {
        Value::Array(nodes) => nodes.iter().map(node).collect(),
        _ => String::new(),
    }
}

fn attr<'a>(n: &'a Value, name: &str) -> Option<&'a Value> {
    n.get("attrs")
        .and_then(|a| a.get(name))
        .filter(|v| truthy(v))
}

fn attr_text(n: &Value, name: &str) -> Option<String> {
    attr(n, name).map(js_string)
}

fn wrap(tag: &str, inner: &str) -> String {
    format!("<{tag}>{inner}</{tag}>")
}

fn node(n: &Value) -> String {
    let content = n.get("content").filter(|c| truthy(c));
    let inner = || content.map(children).unwrap_or_default();
    match n.get("type").and_then(Value::as_str).unwrap_or("") {
        "paragraph" => wrap("p", &inner()),
        "heading" => {
            let level = attr(n, "level")
                .and_then(Value::as_f64)
                .unwrap_or(1.0)
                .min(6.0);
            let tag = format!("h{}", crate::search::text::js_number(level));
            wrap(&tag, &inner())
        }
        "bulletList" => wrap("ul", &inner()),
        "orderedList" => wrap("ol", &inner()),
        "listItem" => {
            let items = content.and_then(Value::as_array);
            let html: String = items
                .into_iter()
                .flatten()
                .map(|c| {
                    if c.get("type").and_then(Value::as_str) == Some("paragraph") {
                        c.get("content")
                            .filter(|x| truthy(x))
                            .map(children)
                            .unwrap_or_default()
                    } else {
                        node(c)
                    }
                })
                .collect();
            wrap("li", &html)
        }
        "blockquote" => wrap("blockquote", &inner()),
        "codeBlock" => {
            let code: String = content
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    if c.get("type").and_then(Value::as_str) == Some("text") {
                        c.get("text")
                            .filter(|t| truthy(t))
                            .map(js_string)
                            .unwrap_or_default()
                    } else {
                        node(c)
                    }
                })
                .collect();
            let class = attr_text(n, "language")
                .map(|l| format!(" class=\"language-{l}\""))
                .unwrap_or_default();
            format!("<pre><code{class}>{}</code></pre>", escape(&code))
        }
        "text" => text(n),
        "hardBreak" => "<br>".into(),
        "rule" => "<hr>".into(),
        "mention" => {
            let who = attr_text(n, "text")
                .or_else(|| attr_text(n, "displayName"))
                .unwrap_or_else(|| "@user".into());
            format!("<span class=\"mention\">{}</span>", escape(&who))
        }
        "emoji" => escape(
            &attr_text(n, "shortName")
                .or_else(|| attr_text(n, "text"))
                .unwrap_or_default(),
        ),
        "table" => wrap("table", &inner()),
        "tableRow" => wrap("tr", &inner()),
        "tableCell" => wrap("td", &inner()),
        "tableHeader" => wrap("th", &inner()),
        _ => {
            if let Some(c) = content {
                children(c)
            } else if let Some(t) = n.get("text").filter(|t| truthy(t)) {
                escape(&js_string(t))
            } else {
                String::new()
            }
        }
    }
}

fn text(n: &Value) -> String {
    let raw = n
        .get("text")
        .filter(|t| truthy(t))
        .map(js_string)
        .unwrap_or_default();
    let mut html = escape(&raw);
    for mark in n
        .get("marks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        html = match mark.get("type").and_then(Value::as_str).unwrap_or("") {
            "strong" => wrap("strong", &html),
            "em" => wrap("em", &html),
            "underline" => wrap("u", &html),
            "strike" => wrap("s", &html),
            "code" => wrap("code", &html),
            "link" => {
                let href = attr_text(mark, "href").unwrap_or_default();
                format!(
                    "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{html}</a>",
                    escape(&href)
                )
            }
            _ => html,
        };
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(content: Value) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }

    fn t(s: &str) -> Value {
        json!({"type": "text", "text": s})
    }

    #[test]
    fn block_nodes_become_their_html_elements() {
        let d = doc(json!([
            {"type": "heading", "attrs": {"level": 2}, "content": [t("Steps")]},
            {"type": "heading", "attrs": {"level": 9}, "content": [t("Deep")]},
            {"type": "paragraph", "content": [t("a"), {"type": "hardBreak"}, t("b")]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [t("one")]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [t("two")]},
                    {"type": "orderedList", "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": [t("2.1")]}]}]}]}
            ]},
            {"type": "blockquote", "content": [{"type": "paragraph", "content": [t("quoted")]}]},
            {"type": "rule"},
            {"type": "table", "content": [
                {"type": "tableRow", "content": [{"type": "tableHeader", "content": [{"type": "paragraph", "content": [t("H")]}]}]},
                {"type": "tableRow", "content": [{"type": "tableCell", "content": [{"type": "paragraph", "content": [t("C")]}]}]}
            ]}
        ]));
        assert_eq!(
            description(Some(&d)).as_deref(),
            Some(
                "<h2>Steps</h2><h6>Deep</h6><p>a<br>b</p><ul><li>one</li><li>two<ol><li>2.1</li></ol></li></ul>\
                 <blockquote><p>quoted</p></blockquote><hr>\
                 <table><tr><th><p>H</p></th></tr><tr><td><p>C</p></td></tr></table>"
            )
        );
    }

    #[test]
    fn marks_wrap_in_order_and_text_is_escaped() {
        let d = doc(json!([{"type": "paragraph", "content": [
            {"type": "text", "text": "<b>&'\"", "marks": [{"type": "strong"}, {"type": "em"}]},
            {"type": "text", "text": "x", "marks": [{"type": "underline"}, {"type": "strike"}, {"type": "code"}, {"type": "textColor"}]},
            {"type": "text", "text": "site", "marks": [{"type": "link", "attrs": {"href": "https://e.x/?a=1&b=\"2\""}}]}
        ]}]));
        assert_eq!(
            description(Some(&d)).as_deref(),
            Some(
                "<p><em><strong>&lt;b&gt;&amp;&#39;&quot;</strong></em><code><s><u>x</u></s></code>\
                 <a href=\"https://e.x/?a=1&amp;b=&quot;2&quot;\" target=\"_blank\" rel=\"noopener noreferrer\">site</a></p>"
            )
        );
    }

    #[test]
    fn inline_nodes_code_blocks_and_unknown_nodes() {
        let d = doc(json!([
            {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [t("if a < b {}")]},
            {"type": "codeBlock", "content": [t("plain")]},
            {"type": "paragraph", "content": [
                {"type": "mention", "attrs": {"id": "1", "text": "@Ada"}},
                {"type": "mention", "attrs": {"displayName": "Bob"}},
                {"type": "mention", "attrs": {}},
                {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
                {"type": "emoji", "attrs": {"text": "😄"}},
                {"type": "inlineCard", "attrs": {"url": "https://x"}},
                {"type": "status", "text": "<done>"}
            ]},
            {"type": "panel", "content": [{"type": "paragraph", "content": [t("in panel")]}]}
        ]));
        assert_eq!(
            description(Some(&d)).as_deref(),
            Some(
                "<pre><code class=\"language-rust\">if a &lt; b {}</code></pre><pre><code>plain</code></pre>\
                 <p><span class=\"mention\">@Ada</span><span class=\"mention\">Bob</span><span class=\"mention\">@user</span>\
                 :smile:😄&lt;done&gt;</p><p>in panel</p>"
            )
        );
    }

    #[test]
    fn plain_text_and_missing_descriptions() {
        assert_eq!(description(None), None);
        assert_eq!(description(Some(&Value::Null)), None);
        assert_eq!(description(Some(&json!(""))), None);
        assert_eq!(
            description(Some(&json!("h1. Wiki *markup*"))).as_deref(),
            Some("h1. Wiki *markup*")
        );
        assert_eq!(description(Some(&doc(json!([])))).as_deref(), Some(""));
        assert_eq!(
            description(Some(&json!({"type": "doc"}))).as_deref(),
            Some("[object Object]")
        );
    }
}
