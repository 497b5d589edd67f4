//! The small Markdown subset messages may use, parsed into an AST that
//! `components/message.rs` draws as elements and text nodes: no HTML from a message ever
//! reaches the DOM (there is no HTML in the AST to reach it).
//!
//! - Blocks: a fenced code block (a line starting with ```` ``` ````, to the next such line
//!   or the end), a quote (consecutive lines starting with `>`), and paragraphs (all other
//!   lines, their line breaks kept).
//! - Inline, within one line: `**strong**`, `*emphasis*`, `` `code` `` (a run of n
//!   backticks to the next run of exactly n), `[text](url)` and bare URLs. A link is made
//!   only for `http://`, `https://` and `mailto:`; anything else (`javascript:`, `data:`)
//!   stays text. A link's target is always shown: `[text](url)` becomes "text (url)".
//! - Strong and emphasis open only before a non-space and close only after one, and never
//!   nest in themselves, so the tree is at most two spans deep; a span left open at the
//!   end of its line goes back to being text.
//!
//! Linear time and bounded depth on any input: every scan forward either consumes what it
//! crosses or is bounded by the next scan's start (see [`link_at`] and [`backtick_runs`]),
//! and nothing recurses.

/// A block of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// Lines of text (with `'\n'` between them).
    Paragraph(Vec<Inline>),
    /// A fenced code block's text, as is.
    Code(String),
    /// Quoted lines (with `'\n'` between them), their `>` removed.
    Quote(Vec<Inline>),
}

/// A piece of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline {
    /// Plain text.
    Text(String),
    /// `**…**`
    Strong(Vec<Inline>),
    /// `*…*`
    Emphasis(Vec<Inline>),
    /// `` `…` ``
    Code(String),
    /// A link to `url` (http, https or mailto only), shown after `text` when there is one.
    Link {
        /// What `[text](url)` said, if not the bare URL.
        text: Option<String>,
        /// The target, always shown.
        url: String,
    },
}

/// Parses a message.
pub fn parse(message: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = message.split('\n');
    let mut paragraph: Vec<&str> = Vec::new();
    let mut quote: Vec<&str> = Vec::new();
    while let Some(line) = lines.next() {
        if let Some(quoted) = line.strip_prefix('>') {
            flush_paragraph(&mut blocks, &mut paragraph);
            quote.push(quoted.strip_prefix(' ').unwrap_or(quoted));
            continue;
        }
        flush_quote(&mut blocks, &mut quote);
        if is_fence(line) {
            flush_paragraph(&mut blocks, &mut paragraph);
            let mut code = Vec::new();
            for line in lines.by_ref() {
                if is_fence(line) && line.trim().bytes().all(|b| b == b'`') {
                    break;
                }
                code.push(line);
            }
            blocks.push(Block::Code(code.join("\n")));
            continue;
        }
        paragraph.push(line);
    }
    flush_paragraph(&mut blocks, &mut paragraph);
    flush_quote(&mut blocks, &mut quote);
    blocks
}

/// Whether a line opens (or closes) a code block: three or more backticks first, and no
/// backtick after them (```` ```x``` ```` is inline code).
fn is_fence(line: &str) -> bool {
    let trimmed = line.trim_start();
    let run = trimmed.bytes().take_while(|&b| b == b'`').count();
    run >= 3 && !trimmed[run..].contains('`')
}

fn flush_paragraph(blocks: &mut Vec<Block>, lines: &mut Vec<&str>) {
    // Blank lines next to another block are spacing, not content.
    while lines.last().is_some_and(|line| line.trim().is_empty()) {
        lines.pop();
    }
    let first = lines.iter().position(|line| !line.trim().is_empty());
    if let Some(first) = first {
        blocks.push(Block::Paragraph(inline_lines(&lines[first..])));
    }
    lines.clear();
}

fn flush_quote(blocks: &mut Vec<Block>, lines: &mut Vec<&str>) {
    if !lines.is_empty() {
        blocks.push(Block::Quote(inline_lines(lines)));
    }
    lines.clear();
}

/// The inline content of lines, with a `'\n'` text between them.
fn inline_lines(lines: &[&str]) -> Vec<Inline> {
    let mut out = Vec::new();
    for (line_idx, line) in lines.iter().enumerate() {
        if line_idx > 0 {
            push_text(&mut out, "\n");
        }
        parse_line(line, &mut out);
    }
    out
}

/// Strong or emphasis.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Span {
    Strong,
    Emphasis,
}

impl Span {
    fn delimiter(self) -> &'static str {
        match self {
            Span::Strong => "**",
            Span::Emphasis => "*",
        }
    }
}

/// An open span and what it holds so far.
struct Frame {
    span: Span,
    children: Vec<Inline>,
}

/// What a line has built so far: the finished pieces and the open spans (at most one of
/// each kind, so at most two).
struct LineBuilder<'a> {
    out: &'a mut Vec<Inline>,
    open: Vec<Frame>,
}

impl LineBuilder<'_> {
    fn current(&mut self) -> &mut Vec<Inline> {
        match self.open.last_mut() {
            Some(frame) => &mut frame.children,
            None => self.out,
        }
    }

    fn text(&mut self, text: &str) {
        push_text(self.current(), text);
    }

    fn node(&mut self, node: Inline) {
        self.current().push(node);
    }

    fn is_open(&self, span: Span) -> bool {
        self.open.iter().any(|frame| frame.span == span)
    }

    /// Closes `span`: spans opened inside it and still open go back to text. An empty
    /// span is text too (`****`).
    fn close(&mut self, span: Span) {
        while self.open.last().is_some_and(|frame| frame.span != span) {
            self.unwind_top();
        }
        let Some(frame) = self.open.pop() else { return };
        if frame.children.is_empty() {
            let doubled = span.delimiter().repeat(2);
            self.text(&doubled);
            return;
        }
        self.node(match span {
            Span::Strong => Inline::Strong(frame.children),
            Span::Emphasis => Inline::Emphasis(frame.children),
        });
    }

    /// The innermost open span becomes its delimiter as text, followed by its content.
    fn unwind_top(&mut self) {
        let Some(frame) = self.open.pop() else { return };
        self.text(frame.span.delimiter());
        for child in frame.children {
            match child {
                Inline::Text(text) => self.text(&text),
                other => self.node(other),
            }
        }
    }

    fn finish(mut self) {
        while !self.open.is_empty() {
            self.unwind_top();
        }
    }
}

fn parse_line(line: &str, out: &mut Vec<Inline>) {
    let bytes = line.as_bytes();
    let runs = backtick_runs(bytes);
    let mut run_idx = 0;
    let mut builder = LineBuilder {
        out,
        open: Vec::new(),
    };
    // Plain text since the last piece, pushed in one go.
    let mut text_from = 0;
    let mut at = 0;
    while at < bytes.len() {
        let piece: Option<(usize, Piece)> = match bytes[at] {
            b'`' => {
                while runs.get(run_idx).is_some_and(|run| run.start < at) {
                    run_idx += 1;
                }
                match runs.get(run_idx) {
                    Some(run) if run.start == at => match run.closer {
                        Some(closer) => {
                            let end = runs[closer].start;
                            let code = &line[at + run.len..end];
                            run_idx = closer + 1;
                            Some((end + runs[closer].len, Piece::Code(trim_code(code))))
                        }
                        None => {
                            // No closer: the run is text, skipped whole.
                            at += run.len;
                            run_idx += 1;
                            continue;
                        }
                    },
                    _ => None,
                }
            }
            b'*' => {
                let span = if bytes.get(at + 1) == Some(&b'*') {
                    Span::Strong
                } else {
                    Span::Emphasis
                };
                let len = span.delimiter().len();
                let before = line[..at].chars().next_back();
                let after = line[at + len..].chars().next();
                let can_close = before.is_some_and(|c| !c.is_whitespace());
                let can_open = after.is_some_and(|c| !c.is_whitespace());
                if can_close && builder.is_open(span) {
                    Some((at + len, Piece::Close(span)))
                } else if can_open && !builder.is_open(span) {
                    Some((at + len, Piece::Open(span)))
                } else {
                    None
                }
            }
            b'[' => link_at(line, at).map(|(end, text, url)| {
                (
                    end,
                    Piece::Link {
                        text: Some(text.to_owned()),
                        url: url.to_owned(),
                    },
                )
            }),
            b'h' | b'H' | b'm' | b'M' => {
                let word_start = line[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_alphanumeric());
                if word_start {
                    bare_url_at(line, at).map(|end| {
                        (
                            end,
                            Piece::Link {
                                text: None,
                                url: line[at..end].to_owned(),
                            },
                        )
                    })
                } else {
                    None
                }
            }
            _ => None,
        };
        let Some((end, piece)) = piece else {
            at += 1;
            continue;
        };
        builder.text(&line[text_from..at]);
        match piece {
            Piece::Code(code) => builder.node(Inline::Code(code.to_owned())),
            Piece::Open(span) => builder.open.push(Frame {
                span,
                children: Vec::new(),
            }),
            Piece::Close(span) => builder.close(span),
            Piece::Link { text, url } => {
                let text = text.filter(|text| *text != url);
                builder.node(Inline::Link { text, url });
            }
        }
        at = end;
        text_from = end;
    }
    builder.text(&line[text_from..]);
    builder.finish();
}

/// What starts at a position of a line.
enum Piece<'a> {
    Code(&'a str),
    Open(Span),
    Close(Span),
    Link { text: Option<String>, url: String },
}

/// A run of backticks and the index of the next run of the same length (its closer).
struct Run {
    start: usize,
    len: usize,
    closer: Option<usize>,
}

/// Every run of backticks in a line, each with its closer, in one pass and one pass back.
fn backtick_runs(bytes: &[u8]) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'`' {
            let len = bytes[at..].iter().take_while(|&&b| b == b'`').count();
            runs.push(Run {
                start: at,
                len,
                closer: None,
            });
            at += len;
        } else {
            at += 1;
        }
    }
    let mut next_of_len: std::collections::HashMap<usize, usize> = Default::default();
    for run_idx in (0..runs.len()).rev() {
        let len = runs[run_idx].len;
        runs[run_idx].closer = next_of_len.insert(len, run_idx);
    }
    runs
}

/// Code spans lose one space on each side when both have one (so `` ` `` ` can be shown).
fn trim_code(code: &str) -> &str {
    match code.strip_prefix(' ').and_then(|c| c.strip_suffix(' ')) {
        Some(inner) if !inner.trim().is_empty() => inner,
        _ => code,
    }
}

/// `[text](url)` at `at` (a `[`): its end, text and URL, when the URL may be a link.
/// The scan for `]` stops at the next `[`, and the URL's at whitespace or a bracket, so
/// no byte is crossed by more than one scan of each kind.
fn link_at(line: &str, at: usize) -> Option<(usize, &str, &str)> {
    let rest = &line[at + 1..];
    let close = rest.find(['[', ']'])?;
    if !rest[close..].starts_with(']') || close == 0 {
        return None;
    }
    let text = &rest[..close];
    let after = rest[close + 1..].strip_prefix('(')?;
    let mut depth = 0usize;
    let mut url_end = None;
    for (idx, c) in after.char_indices() {
        match c {
            c if c.is_whitespace() || c == '[' || c == ']' => return None,
            '(' => depth += 1,
            ')' if depth == 0 => {
                url_end = Some(idx);
                break;
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    let url = &after[..url_end?];
    if !may_link(url) {
        return None;
    }
    let end = at + 1 + close + 1 + 1 + url.len() + 1;
    Some((end, text, url))
}

/// A bare URL at `at`: its end (trailing punctuation and an unmatched `)` left out).
fn bare_url_at(line: &str, at: usize) -> Option<usize> {
    let rest = &line[at..];
    let scheme = SCHEMES
        .iter()
        .find(|scheme| starts_with_ignore_case(rest, scheme))?;
    let len = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
        .unwrap_or(rest.len());
    let mut url = &rest[..len];
    let opens = url.matches('(').count();
    let mut closes = url.matches(')').count();
    while let Some(last) = url.chars().next_back() {
        match last {
            '.' | ',' | ':' | ';' | '!' | '?' | '\'' | '*' => {}
            ')' if closes > opens => closes -= 1,
            _ => break,
        }
        url = &url[..url.len() - 1];
    }
    (url.len() > scheme.len()).then_some(at + url.len())
}

/// The only schemes that become links.
const SCHEMES: [&str; 3] = ["https://", "http://", "mailto:"];

/// Whether `url` may be a link's target: one of [`SCHEMES`] and something after it.
pub fn may_link(url: &str) -> bool {
    SCHEMES
        .iter()
        .any(|scheme| starts_with_ignore_case(url, scheme) && url.len() > scheme.len())
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn push_text(out: &mut Vec<Inline>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Inline::Text(last)) = out.last_mut() {
        last.push_str(text);
    } else {
        out.push(Inline::Text(text.to_owned()));
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "markdown_tests.rs"]
mod tests;
