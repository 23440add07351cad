//! Testmo's rich text (HTML) as TipTap documents, the JSON TestPlanIt's editors read. The
//! HTML goes through html5ever (the `scraper` crate), a conforming HTML5 parser, and the tree
//! is mapped onto the StarterKit schema as ProseMirror's DOM parser maps it: paragraphs,
//! headings 1–4, lists, blockquotes, code blocks, rules and hard breaks; bold, italic, strike,
//! code, underline and link marks; whitespace collapsed outside `<pre>`, inline content
//! outside a block wrapped in a paragraph, unknown elements read through. Node did this with
//! a headless DOM (happy-dom) recycled every 1,000 conversions to contain its memory.

use std::collections::HashMap;

use scraper::{ElementRef, Html, Node};
use serde_json::{Map, Value, json};

/// Marks in the schema's order (ProseMirror sorts a node's marks by it; Link comes first as
/// it has the higher priority).
const MARK_ORDER: [&str; 6] = ["link", "bold", "code", "italic", "strike", "underline"];

#[derive(Clone, PartialEq)]
struct Mark {
    kind: &'static str,
    attrs: Option<Value>,
}

impl Mark {
    fn json(&self) -> Value {
        match &self.attrs {
            Some(a) => json!({"type": self.kind, "attrs": a}),
            None => json!({"type": self.kind}),
        }
    }
}

/// The blocks of one container (document, list item, blockquote) being built.
#[derive(Default)]
struct Blocks {
    out: Vec<Value>,
    inline: Vec<Value>,
}

impl Blocks {
    fn flush(&mut self) {
        if self.inline.is_empty() {
            return;
        }
        let content = finish_inline(std::mem::take(&mut self.inline));
        if !content.is_empty() {
            self.out
                .push(json!({"type": "paragraph", "content": content}));
        }
    }

    fn block(&mut self, v: Value) {
        self.flush();
        self.out.push(v);
    }

    fn into_content(mut self) -> Vec<Value> {
        self.flush();
        self.out
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}')
}

/// Appends text to an inline run: whitespace collapsed, none at the run's start or after a
/// space already there; adjacent text with the same marks joined.
fn push_text(inline: &mut Vec<Value>, raw: &str, marks: &[Mark]) {
    let mut s = String::with_capacity(raw.len());
    let mut prev_space = match inline.last() {
        None => true,
        Some(v) => v["text"].as_str().is_none_or(|t| t.ends_with(' ')) && v["type"] == "text",
    };
    if inline.last().is_some_and(|v| v["type"] == "hardBreak") {
        prev_space = true;
    }
    for c in raw.chars() {
        if is_space(c) {
            if !prev_space {
                s.push(' ');
            }
            prev_space = true;
        } else {
            s.push(c);
            prev_space = false;
        }
    }
    push_raw(inline, s, marks);
}

fn marks_json(marks: &[Mark]) -> Option<Value> {
    if marks.is_empty() {
        return None;
    }
    let mut sorted: Vec<&Mark> = marks.iter().collect();
    sorted.sort_by_key(|m| MARK_ORDER.iter().position(|k| *k == m.kind));
    sorted.dedup_by(|a, b| a.kind == b.kind);
    Some(Value::Array(sorted.into_iter().map(Mark::json).collect()))
}

fn push_raw(inline: &mut Vec<Value>, s: String, marks: &[Mark]) {
    if s.is_empty() {
        return;
    }
    let marks = marks_json(marks);
    if let Some(last) = inline.last_mut()
        && last["type"] == "text"
        && last.get("marks") == marks.as_ref()
        && let Some(t) = last.get_mut("text")
    {
        let joined = format!("{}{s}", t.as_str().unwrap_or_default());
        *t = Value::String(joined);
        return;
    }
    let mut node = Map::new();
    node.insert("type".into(), json!("text"));
    node.insert("text".into(), Value::String(s));
    if let Some(m) = marks {
        node.insert("marks".into(), m);
    }
    inline.push(Value::Object(node));
}

/// The end of a block: its trailing whitespace removed, empty text nodes dropped.
fn finish_inline(mut inline: Vec<Value>) -> Vec<Value> {
    while let Some(last) = inline.last_mut() {
        let Some(t) = last.get("text").and_then(Value::as_str) else {
            break;
        };
        let trimmed = t.trim_end_matches(is_space).to_string();
        if trimmed.is_empty() {
            inline.pop();
            continue;
        }
        last["text"] = Value::String(trimmed);
        break;
    }
    inline
}

fn mark_for(el: &ElementRef) -> Option<Mark> {
    let kind = match el.value().name() {
        "strong" | "b" => "bold",
        "em" | "i" => "italic",
        "s" | "del" | "strike" => "strike",
        "code" => "code",
        "u" => "underline",
        "a" => {
            let href = el.value().attr("href")?;
            return Some(Mark {
                kind: "link",
                attrs: Some(
                    json!({"href": href, "target": "_blank", "rel": "noopener noreferrer nofollow", "class": null}),
                ),
            });
        }
        _ => return None,
    };
    Some(Mark { kind, attrs: None })
}

/// Inline content of a textblock (paragraph, heading): nested blocks are read as text.
fn inline_of(el: ElementRef, marks: &mut Vec<Mark>, inline: &mut Vec<Value>) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => push_text(inline, t, marks),
            Node::Element(_) => {
                let Some(c) = ElementRef::wrap(child) else {
                    continue;
                };
                match c.value().name() {
                    "br" => inline.push(hard_break(marks)),
                    "script" | "style" | "img" => {}
                    _ => {
                        let mark = mark_for(&c);
                        let pushed = mark.is_some();
                        marks.extend(mark);
                        inline_of(c, marks, inline);
                        if pushed {
                            marks.pop();
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn hard_break(marks: &[Mark]) -> Value {
    match marks_json(marks) {
        Some(m) => json!({"type": "hardBreak", "marks": m}),
        None => json!({"type": "hardBreak"}),
    }
}

fn textblock(kind: &str, attrs: Option<Value>, el: ElementRef, marks: &mut Vec<Mark>) -> Value {
    let mut inline = Vec::new();
    inline_of(el, marks, &mut inline);
    let content = finish_inline(inline);
    let mut node = Map::new();
    node.insert("type".into(), json!(kind));
    if let Some(a) = attrs {
        node.insert("attrs".into(), a);
    }
    if !content.is_empty() {
        node.insert("content".into(), Value::Array(content));
    }
    Value::Object(node)
}

/// The content of a container node whose schema wants blocks (`listItem`, `blockquote`).
fn container(el: ElementRef, marks: &mut Vec<Mark>) -> Vec<Value> {
    let mut b = Blocks::default();
    walk(el, marks, &mut b);
    let content = b.into_content();
    if content.is_empty() {
        vec![json!({"type": "paragraph"})]
    } else {
        content
    }
}

fn list(kind: &str, el: ElementRef, marks: &mut Vec<Mark>) -> Value {
    let mut items = Vec::new();
    for child in el.children().filter_map(ElementRef::wrap) {
        let content = if child.value().name() == "li" {
            container(child, marks)
        } else {
            container_of_one(child, marks)
        };
        items.push(json!({"type": "listItem", "content": content}));
    }
    if items.is_empty() {
        items.push(json!({"type": "listItem", "content": [{"type": "paragraph"}]}));
    }
    if kind == "orderedList" {
        let start = el
            .value()
            .attr("start")
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(1);
        let typ = el.value().attr("type").map_or(Value::Null, |t| json!(t));
        json!({"type": kind, "attrs": {"start": start, "type": typ}, "content": items})
    } else {
        json!({"type": kind, "content": items})
    }
}

/// A stray element directly in a list, read as one item.
fn container_of_one(el: ElementRef, marks: &mut Vec<Mark>) -> Vec<Value> {
    let mut b = Blocks::default();
    element(el, marks, &mut b);
    let c = b.into_content();
    if c.is_empty() {
        vec![json!({"type": "paragraph"})]
    } else {
        c
    }
}

fn code_block(el: ElementRef) -> Value {
    let text: String = el.text().collect();
    let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
    let language = el
        .children()
        .filter_map(ElementRef::wrap)
        .find(|c| c.value().name() == "code")
        .and_then(|c| c.value().attr("class"))
        .and_then(|cls| {
            cls.split_whitespace()
                .find_map(|c| c.strip_prefix("language-"))
        })
        .map_or(Value::Null, |l| json!(l));
    let mut node = json!({"type": "codeBlock", "attrs": {"language": language}});
    if !text.is_empty() {
        node["content"] = json!([{"type": "text", "text": text}]);
    }
    node
}

fn element(el: ElementRef, marks: &mut Vec<Mark>, b: &mut Blocks) {
    match el.value().name() {
        "p" => b.block(textblock("paragraph", None, el, marks)),
        h @ ("h1" | "h2" | "h3" | "h4") => {
            let level: i64 = h[1..].parse().unwrap_or(1);
            b.block(textblock("heading", Some(json!({"level": level})), el, marks));
        }
        "ul" => b.block(list("bulletList", el, marks)),
        "ol" => b.block(list("orderedList", el, marks)),
        "blockquote" => b.block(json!({"type": "blockquote", "content": container(el, marks)})),
        "pre" => b.block(code_block(el)),
        "hr" => b.block(json!({"type": "horizontalRule"})),
        "br" => b.inline.push(hard_break(marks)),
        "script" | "style" | "img" | "head" | "title" | "meta" => {}
        "li" => b.block(json!({"type": "bulletList", "content": [{"type": "listItem", "content": container(el, marks)}]})),
        name if BLOCK_TAGS.contains(&name) => {
            // A block element the schema has no node for ends the paragraph before it and
            // starts a new one after it, as in ProseMirror.
            b.flush();
            walk(el, marks, b);
            b.flush();
        }
        _ => {
            let mark = mark_for(&el);
            let pushed = mark.is_some();
            marks.extend(mark);
            walk(el, marks, b);
            if pushed {
                marks.pop();
            }
        }
    }
}

/// HTML's block-level elements (ProseMirror's list).
const BLOCK_TAGS: [&str; 27] = [
    "address",
    "article",
    "aside",
    "blockquote",
    "canvas",
    "dd",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "noscript",
    "output",
    "section",
    "table",
    "tfoot",
    "dt",
];

fn walk(el: ElementRef, marks: &mut Vec<Mark>, b: &mut Blocks) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => push_text(&mut b.inline, t, marks),
            Node::Element(_) => {
                if let Some(c) = ElementRef::wrap(child) {
                    element(c, marks, b);
                }
            }
            _ => {}
        }
    }
}

/// A TipTap document from HTML (or plain text, which HTML parsing keeps as text).
pub fn from_html(html: &str) -> Value {
    let fragment = Html::parse_fragment(html);
    let mut b = Blocks::default();
    walk(fragment.root_element(), &mut Vec::new(), &mut b);
    let content = b.into_content();
    if content.is_empty() {
        json!({"type": "doc", "content": [{"type": "paragraph"}]})
    } else {
        json!({"type": "doc", "content": content})
    }
}

fn is_document(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
        && v.get("content").is_none_or(Value::is_array)
}

/// Node's emptiness rule: no blocks, or one block without text.
fn is_empty(doc: &Value) -> bool {
    let content = doc
        .get("content")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    match content {
        [] => true,
        [first] => {
            let children = first
                .get("content")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            match children {
                [] => first
                    .get("text")
                    .and_then(Value::as_str)
                    .is_none_or(|t| t.trim().is_empty()),
                [only] => only
                    .get("text")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.trim().is_empty()),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Converts row values to documents, remembering the last hundred (Testmo repeats the same
/// notes and descriptions a lot).
#[derive(Default)]
pub struct Converter {
    cache: HashMap<String, Value>,
}

const CACHE_LIMIT: usize = 100;

impl Converter {
    /// The document for a row value, or `None` when it is missing or empty (Node's
    /// `convertToTipTapJsonValue`): documents stay as they are, a string holding a document's
    /// JSON is parsed, any other string is HTML, other values become their text.
    pub fn convert(&mut self, v: Option<&Value>) -> Option<Value> {
        let doc = match v? {
            Value::Null => return None,
            Value::String(s) => {
                let t = s.trim();
                if t.is_empty() {
                    return None;
                }
                if let Some(d) = self.cache.get(t) {
                    d.clone()
                } else {
                    let d = serde_json::from_str::<Value>(t)
                        .ok()
                        .filter(is_document)
                        .unwrap_or_else(|| from_html(t));
                    if self.cache.len() >= CACHE_LIMIT {
                        self.cache.clear();
                    }
                    self.cache.insert(t.to_string(), d.clone());
                    d
                }
            }
            d if is_document(d) => d.clone(),
            Value::Object(_) | Value::Array(_) => paragraph(&v?.to_string()),
            other => paragraph(&other.to_string()),
        };
        (!is_empty(&doc)).then_some(doc)
    }
}

fn paragraph(text: &str) -> Value {
    json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_marks_and_whitespace() {
        let d = from_html("<p>Hello   <b>bold <i>both</i></b>\n world </p><p></p>");
        assert_eq!(
            d,
            json!({"type": "doc", "content": [
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "Hello "},
                    {"type": "text", "text": "bold ", "marks": [{"type": "bold"}]},
                    {"type": "text", "text": "both", "marks": [{"type": "bold"}, {"type": "italic"}]},
                    {"type": "text", "text": " world"}
                ]},
                {"type": "paragraph"}
            ]})
        );
    }

    #[test]
    fn blocks_lists_code_and_links() {
        let d = from_html(
            "<h2>Steps</h2><ol start=\"3\"><li>Open <a href=\"https://x.test/a\">the page</a></li><li><p>Click</p></li></ol>\
             <pre><code class=\"language-sh\">ls  -l\n</code></pre><hr><h5>small</h5>loose<br>text",
        );
        let c = d["content"].as_array().unwrap();
        assert_eq!(
            c[0],
            json!({"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Steps"}]})
        );
        assert_eq!(c[1]["attrs"], json!({"start": 3, "type": null}));
        assert_eq!(
            c[1]["content"][0]["content"][0]["content"][1],
            json!({"type": "text", "text": "the page", "marks": [{"type": "link", "attrs": {"href": "https://x.test/a", "target": "_blank", "rel": "noopener noreferrer nofollow", "class": null}}]})
        );
        assert_eq!(
            c[1]["content"][1]["content"],
            json!([{"type": "paragraph", "content": [{"type": "text", "text": "Click"}]}])
        );
        assert_eq!(
            c[2],
            json!({"type": "codeBlock", "attrs": {"language": "sh"}, "content": [{"type": "text", "text": "ls  -l"}]})
        );
        assert_eq!(c[3], json!({"type": "horizontalRule"}));
        assert_eq!(
            c[4],
            json!({"type": "paragraph", "content": [{"type": "text", "text": "small"}]})
        );
        assert_eq!(
            c[5],
            json!({"type": "paragraph", "content": [{"type": "text", "text": "loose"}, {"type": "hardBreak"}, {"type": "text", "text": "text"}]})
        );
    }

    #[test]
    fn values_to_documents() {
        let mut c = Converter::default();
        assert_eq!(c.convert(None), None);
        assert_eq!(c.convert(Some(&json!("   "))), None);
        assert_eq!(c.convert(Some(&json!("<p> </p>"))), None);
        assert_eq!(
            c.convert(Some(&json!("plain & simple"))),
            Some(
                json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "plain & simple"}]}]})
            )
        );
        let doc = json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "kept"}]}]});
        assert_eq!(
            c.convert(Some(&Value::String(doc.to_string()))),
            Some(doc.clone())
        );
        assert_eq!(c.convert(Some(&doc)), Some(doc));
        assert_eq!(
            c.convert(Some(&json!(42))).unwrap()["content"][0]["content"][0]["text"],
            "42"
        );
    }
}
