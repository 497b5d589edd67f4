//! The Markdown subset on ordinary and hostile input, checked through one compact notation
//! of the tree (`check`).

use wasm_bindgen_test::*;

use super::{Block, Inline, parse};

wasm_bindgen_test_configure!(run_in_browser);

/// The tree in a compact notation: blocks as `P[..]`, `Q[..]`, `CODE[..]`; spans as
/// `S(..)`, `E(..)`, `C(..)`; links as `L(text|url)`; text as is.
fn notation(blocks: &[Block]) -> String {
    fn inlines(out: &mut String, pieces: &[Inline]) {
        for piece in pieces {
            match piece {
                Inline::Text(text) => out.push_str(text),
                Inline::Strong(inner) => {
                    out.push_str("S(");
                    inlines(out, inner);
                    out.push(')');
                }
                Inline::Emphasis(inner) => {
                    out.push_str("E(");
                    inlines(out, inner);
                    out.push(')');
                }
                Inline::Code(code) => out.push_str(&format!("C({code})")),
                Inline::Link { text, url } => {
                    out.push_str(&format!("L({}|{url})", text.as_deref().unwrap_or("")))
                }
            }
        }
    }
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Paragraph(pieces) => {
                out.push_str("P[");
                inlines(&mut out, pieces);
            }
            Block::Quote(pieces) => {
                out.push_str("Q[");
                inlines(&mut out, pieces);
            }
            Block::Code(code) => out.push_str(&format!("CODE[{code}")),
        }
        out.push(']');
    }
    out
}

#[track_caller]
fn check(input: &str, expected: &str) {
    assert_eq!(notation(&parse(input)), expected, "input: {input:?}");
}

#[wasm_bindgen_test]
fn plain_text_is_one_paragraph_with_its_lines() {
    check("hello", "P[hello]");
    check(
        "first\n<b>second</b>\nthird",
        "P[first\n<b>second</b>\nthird]",
    );
    check("a\n\nb", "P[a\n\nb]");
    check("2 * 3 * 4", "P[2 * 3 * 4]");
}

#[wasm_bindgen_test]
fn strong_emphasis_and_code() {
    check("**bold** and *it*", "P[S(bold) and E(it)]");
    check("**bold *both* bold**", "P[S(bold E(both) bold)]");
    check("*it **both** it*", "P[E(it S(both) it)]");
    check("`a *not* b`", "P[C(a *not* b)]");
    check("``a ` b``", "P[C(a ` b)]");
    check("```x```", "P[C(x)]");
    check("** not bold **", "P[** not bold **]");
    check("****", "P[****]");
}

#[wasm_bindgen_test]
fn unterminated_and_crossed_spans_stay_text() {
    check("**open", "P[**open]");
    check("*open", "P[*open]");
    check("`open", "P[`open]");
    check("**a *b** c*", "P[S(a *b) c*]");
    check("***x***", "P[S(*x)*]");
    // A span ends with its line.
    check("**a\nb**", "P[**a\nb**]");
}

#[wasm_bindgen_test]
fn links_only_for_http_https_and_mailto_with_the_target_shown() {
    check(
        "see https://example.org/a?b=c.",
        "P[see L(|https://example.org/a?b=c).]",
    );
    check(
        "(https://en.wikipedia.org/wiki/Rust_(language))",
        "P[(L(|https://en.wikipedia.org/wiki/Rust_(language)))]",
    );
    check("[docs](https://docs.rs)", "P[L(docs|https://docs.rs)]");
    check("[https://a.b](https://a.b)", "P[L(|https://a.b)]");
    check("mailto:a@b.c", "P[L(|mailto:a@b.c)]");
    check("HTTPS://A.B", "P[L(|HTTPS://A.B)]");
    check(
        "[click](javascript:alert(1))",
        "P[[click](javascript:alert(1))]",
    );
    check("javascript:alert(1)", "P[javascript:alert(1)]");
    check(
        "[x](data:text/html,<script>)",
        "P[[x](data:text/html,<script>)]",
    );
    check("[x]( https://a.b)", "P[[x]( L(|https://a.b))]");
    check("xhttps://a.b", "P[xhttps://a.b]");
    check("https://", "P[https://]");
    check("**https://a.b**", "P[S(L(|https://a.b))]");
}

#[wasm_bindgen_test]
fn code_blocks_and_quotes() {
    check(
        "before\n```rust\nlet x = *y*;\n<script>\n```\nafter",
        "P[before]CODE[let x = *y*;\n<script>]P[after]",
    );
    check("```\nnever closed\n**x**", "CODE[never closed\n**x**]");
    check(
        "> quoted **bold**\n>second\nreply",
        "Q[quoted S(bold)\nsecond]P[reply]",
    );
    check("> > nested", "Q[> nested]");
    check("a\n\n```\nc\n```\n\nb", "P[a]CODE[c]P[b]");
}

#[wasm_bindgen_test]
fn html_is_only_ever_text() {
    check(
        "<script>alert(1)</script><img src=x onerror=alert(1)>",
        "P[<script>alert(1)</script><img src=x onerror=alert(1)>]",
    );
    check("**<b>x</b>**", "P[S(<b>x</b>)]");
    check("[<b>](https://a.b)", "P[L(<b>|https://a.b)]");
}

/// Deep nesting does not recurse and pathological input stays linear: each of these
/// megabyte inputs would take minutes if any scan restarted from every position.
#[wasm_bindgen_test]
fn hostile_input_is_parsed_in_linear_time_without_deep_recursion() {
    let started = js_sys::Date::now();
    let n = 1 << 20;
    let inputs = [
        "*".repeat(n),
        "**a ".repeat(n / 4),
        "`".repeat(n),
        "` `` ``` ```` ````` ".repeat(n / 20),
        "[a](x".repeat(n / 5),
        "[".repeat(n),
        "> ".repeat(n / 2),
        ">\n".repeat(n / 2),
        "```\n".repeat(n / 4),
        format!("https://a{}", ")".repeat(n)),
        "https://a.b ".repeat(n / 12),
        "*a **b ".repeat(n / 7),
    ];
    for input in &inputs {
        let blocks = parse(input);
        assert!(!blocks.is_empty());
    }
    let seconds = (js_sys::Date::now() - started) / 1000.0;
    assert!(
        seconds < 10.0,
        "{} inputs of 1 MiB took {seconds:.1} s",
        inputs.len()
    );
}
