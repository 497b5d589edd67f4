//! The module graph of each crate, from its `use crate::…` / `super::…` paths, and the
//! import circles in it.
//!
//! A module may use its parent and its children freely (that is what nesting is for);
//! what must not go round in a circle is use between *siblings*. A file deep in module `a`
//! that names something in sibling `b` (or anything inside `b`) is an edge `a → b` at
//! their parent's level; a strongly connected set of siblings is a circle. So `store ↔
//! idb ↔ tab_lock` (where `idb` is inside `store`) is the circle `store ↔ tab_lock`
//! among `platform`'s children.
//!
//! Test modules (named `tests`, inline or in a file) are left out: a test may reach
//! anywhere. Paths are read from the source with comments and literals removed; a path
//! resolves to the longest module prefix it names (an item's path to its module).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One module: its path from the crate root (empty for the root) and its file.
#[derive(Debug)]
struct Module {
    path: Vec<String>,
    file: PathBuf,
}

/// One use of a sibling: where, and the path as written.
#[derive(Clone, Debug)]
pub(super) struct Evidence {
    pub(super) file: String,
    pub(super) line: usize,
    pub(super) path: String,
}

/// A circle among the children of one module: the members (full module paths, sorted)
/// and, for each edge inside it, one use that makes it.
#[derive(Debug)]
pub(super) struct Circle {
    pub(super) members: Vec<String>,
    pub(super) edges: Vec<(String, String, Evidence)>,
}

impl Circle {
    /// `a ↔ b ↔ c`, by the members' last segments, as the allow list spells it.
    pub(super) fn name(&self) -> String {
        self.members.join(" ↔ ")
    }
}

/// Every circle in the crate whose root file is `root_file` (`src/lib.rs`, …); paths in
/// evidence are relative to `repo`.
pub(super) fn circles(repo: &Path, root_file: &Path) -> Result<Vec<Circle>> {
    let modules = module_tree(root_file)?;
    let known: BTreeSet<&[String]> = modules.iter().map(|m| m.path.as_slice()).collect();
    // (from, to) sibling edges with their first evidence.
    let mut edges: BTreeMap<(Vec<String>, Vec<String>), Evidence> = BTreeMap::new();
    for module in &modules {
        let text = fs::read_to_string(&module.file)
            .with_context(|| format!("reading {}", module.file.display()))?;
        let shown = module
            .file
            .strip_prefix(repo)
            .unwrap_or(&module.file)
            .display()
            .to_string();
        for (line, used) in used_paths(&text) {
            let Some(absolute) = used.resolve(&module.path) else {
                continue;
            };
            let target = longest_module(&known, &absolute);
            if let Some((from, to)) = sibling_edge(&module.path, target) {
                edges.entry((from, to)).or_insert_with(|| Evidence {
                    file: shown.clone(),
                    line,
                    path: used.written.clone(),
                });
            }
        }
    }
    Ok(strongly_connected(&edges))
}

/// The crate's modules, from `mod name;` declarations (test modules and `#[path]`
/// modules left out), starting at the root file.
fn module_tree(root_file: &Path) -> Result<Vec<Module>> {
    let mut modules = Vec::new();
    let mut pending = vec![(Vec::new(), root_file.to_path_buf())];
    while let Some((path, file)) = pending.pop() {
        let text =
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        // Children of `a.rs` live in `a/`; of `lib.rs`, `main.rs` and `mod.rs` beside it.
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let dir = if path.is_empty() || stem == "mod" {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            file.with_extension("")
        };
        for child in declared_modules(&strip(&text)) {
            let flat = dir.join(format!("{child}.rs"));
            let nested = dir.join(&child).join("mod.rs");
            let child_file = if flat.is_file() { flat } else { nested };
            if !child_file.is_file() {
                continue; // generated or missing: the compiler says so
            }
            let mut child_path = path.clone();
            child_path.push(child);
            pending.push((child_path, child_file));
        }
        modules.push(Module { path, file });
    }
    modules.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(modules)
}

/// Names declared as `mod name;` in (stripped) source, except `tests` and modules with a
/// `#[path]` attribute.
fn declared_modules(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut previous = "";
    for line in code.lines().map(str::trim) {
        let rest = line
            .strip_prefix("pub(crate) ")
            .or_else(|| line.strip_prefix("pub(super) "))
            .or_else(|| line.strip_prefix("pub "))
            .unwrap_or(line);
        if let Some(name) = rest.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            let name = name.trim();
            if name != "tests" && !previous.starts_with("#[path") {
                names.push(name.to_owned());
            }
        }
        if !line.is_empty() {
            previous = line;
        }
    }
    names
}

/// Where a path starts.
#[derive(Debug, PartialEq)]
enum Anchor {
    Crate,
    /// `super::` this many times.
    Super(usize),
}

/// A path as used in a file.
#[derive(Debug)]
struct UsedPath {
    anchor: Anchor,
    segments: Vec<String>,
    written: String,
}

impl UsedPath {
    /// The path from the crate root, seen from module `from`; `None` for a `super` past
    /// the root.
    fn resolve(&self, from: &[String]) -> Option<Vec<String>> {
        let mut absolute = match self.anchor {
            Anchor::Crate => Vec::new(),
            Anchor::Super(n) => from.get(..from.len().checked_sub(n)?)?.to_vec(),
        };
        absolute.extend(self.segments.iter().cloned());
        Some(absolute)
    }
}

/// The longest prefix of `path` that is a module.
fn longest_module<'a>(known: &BTreeSet<&'a [String]>, path: &[String]) -> &'a [String] {
    (0..=path.len())
        .rev()
        .find_map(|len| known.get(&path[..len]).copied())
        .unwrap_or(&[])
}

/// `(a, b)`: the children of the common ancestor that contain `from` and `to`, unless one
/// contains the other (a module and its ancestors are not siblings).
fn sibling_edge(from: &[String], to: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((from[..=common].to_vec(), to[..=common].to_vec()))
}

/// Source with comments, string and char literals blanked (newlines kept, so line
/// numbers hold) and inline `mod tests { … }` blocks removed.
pub(super) fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"') | Some('#')) && !inside_word(&chars, i) {
            // Raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(&other) => {
                        out.push(blank(other));
                        j += 1;
                    }
                }
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&inner) = chars.get(i) {
                    out.push(blank(inner));
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\u{..}'); a lifetime has no closing quote.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    remove_inline_tests(&out)
}

/// Whether `chars[at]` continues an identifier (`br"…"` counts as a raw string's start).
fn inside_word(chars: &[char], at: usize) -> bool {
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let before = at.checked_sub(1).and_then(|i| chars.get(i));
    if before == Some(&'b') {
        return word(at.checked_sub(2).and_then(|i| chars.get(i)));
    }
    word(before)
}

/// Removes every `mod tests { … }` block (keeping its newlines).
fn remove_inline_tests(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(start) = find_inline_tests(&out) {
        let open = start + out[start..].find('{').unwrap_or(0);
        let mut depth = 0;
        let mut end = out.len();
        for (offset, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + offset + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let newlines = "\n".repeat(out[start..end].matches('\n').count());
        out.replace_range(start..end, &newlines);
    }
    out
}

fn find_inline_tests(code: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = code[from..].find("mod tests") {
        let start = from + at;
        let after = code[start + "mod tests".len()..].trim_start();
        let boundary = start == 0 || !code[..start].ends_with(|c: char| c.is_alphanumeric());
        if boundary && after.starts_with('{') {
            return Some(start);
        }
        from = start + 1;
    }
    None
}

/// Every path starting `crate::` or `super::` in `text`, with its line (1-based); a
/// `use` tree (`crate::a::{b, c::d}`) gives one path per leaf.
fn used_paths(text: &str) -> Vec<(usize, UsedPath)> {
    let code = strip(text);
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\n' {
            line += 1;
        }
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let preceded_by_path = i >= 2 && chars[i - 1] == ':' && chars[i - 2] == ':';
        if starts_word && !preceded_by_path {
            let mut parser = PathParser {
                chars: &chars,
                pos: i,
            };
            if let Some(anchor) = parser.anchor() {
                let begin = i;
                let mut leaves = Vec::new();
                parser.tree(&mut Vec::new(), &mut leaves);
                let written: String = chars[begin..parser.pos].iter().collect();
                let written: String = written.split_whitespace().collect();
                for segments in leaves {
                    found.push((
                        line,
                        UsedPath {
                            anchor: match anchor {
                                Anchor::Crate => Anchor::Crate,
                                Anchor::Super(n) => Anchor::Super(n),
                            },
                            segments,
                            written: written.clone(),
                        },
                    ));
                }
                for c in &chars[begin..parser.pos] {
                    if *c == '\n' {
                        line += 1;
                    }
                }
                i = parser.pos.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    found
}

struct PathParser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl PathParser<'_> {
    fn skip_space(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().collect())
    }

    /// `::`, after optional space.
    fn colons(&mut self) -> bool {
        let save = self.pos;
        self.skip_space();
        if self.chars.get(self.pos) == Some(&':') && self.chars.get(self.pos + 1) == Some(&':') {
            self.pos += 2;
            self.skip_space();
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// `crate::` or `super::` (repeated); leaves the position after the last `::`.
    fn anchor(&mut self) -> Option<Anchor> {
        let save = self.pos;
        let first = self.ident();
        let anchor = match first.as_deref() {
            Some("crate") if self.colons() => Anchor::Crate,
            Some("super") if self.colons() => {
                let mut n = 1;
                loop {
                    let here = self.pos;
                    if self.ident().as_deref() == Some("super") && self.colons() {
                        n += 1;
                    } else {
                        self.pos = here;
                        break;
                    }
                }
                Anchor::Super(n)
            }
            _ => {
                self.pos = save;
                return None;
            }
        };
        Some(anchor)
    }

    /// A path or `use` tree after `prefix`; pushes each leaf's segments.
    fn tree(&mut self, prefix: &mut Vec<String>, leaves: &mut Vec<Vec<String>>) {
        let depth = prefix.len();
        loop {
            self.skip_space();
            match self.chars.get(self.pos) {
                Some('{') => {
                    self.pos += 1;
                    loop {
                        self.skip_space();
                        match self.chars.get(self.pos) {
                            Some('}') => {
                                self.pos += 1;
                                break;
                            }
                            Some(',') => self.pos += 1,
                            None => break,
                            _ => {
                                let before = self.pos;
                                self.tree(prefix, leaves);
                                if self.pos == before {
                                    self.pos += 1; // not a path: skip a character
                                }
                            }
                        }
                    }
                    break;
                }
                Some('*') => {
                    self.pos += 1;
                    leaves.push(prefix.clone());
                    break;
                }
                _ => {
                    let Some(segment) = self.ident() else {
                        leaves.push(prefix.clone());
                        break;
                    };
                    if segment != "self" {
                        prefix.push(segment);
                    }
                    if !self.colons() {
                        leaves.push(prefix.clone());
                        break;
                    }
                }
            }
        }
        prefix.truncate(depth);
    }
}

/// Sets of two or more siblings that reach each other (Tarjan's algorithm), each with the
/// edges inside it.
fn strongly_connected(edges: &BTreeMap<(Vec<String>, Vec<String>), Evidence>) -> Vec<Circle> {
    let mut nodes: BTreeSet<&Vec<String>> = BTreeSet::new();
    for (from, to) in edges.keys() {
        nodes.insert(from);
        nodes.insert(to);
    }
    let nodes: Vec<&Vec<String>> = nodes.into_iter().collect();
    let index_of = |node: &Vec<String>| nodes.iter().position(|n| *n == node);
    let mut successors = vec![Vec::new(); nodes.len()];
    for (from, to) in edges.keys() {
        if let (Some(a), Some(b)) = (index_of(from), index_of(to)) {
            successors[a].push(b);
        }
    }
    let mut tarjan = Tarjan {
        successors: &successors,
        index: vec![None; nodes.len()],
        low: vec![0; nodes.len()],
        on_stack: vec![false; nodes.len()],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for node in 0..nodes.len() {
        if tarjan.index[node].is_none() {
            tarjan.visit(node);
        }
    }
    let mut circles = Vec::new();
    for component in tarjan.components {
        if component.len() < 2 {
            continue;
        }
        let members: BTreeSet<&Vec<String>> = component.iter().map(|i| nodes[*i]).collect();
        let circle_edges = edges
            .iter()
            .filter(|((from, to), _)| members.contains(from) && members.contains(to))
            .map(|((from, to), evidence)| (from.join("::"), to.join("::"), evidence.clone()))
            .collect();
        circles.push(Circle {
            members: members.iter().map(|m| m.join("::")).collect(),
            edges: circle_edges,
        });
    }
    circles.sort_by(|a, b| a.members.cmp(&b.members));
    circles
}

struct Tarjan<'a> {
    successors: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, node: usize) {
        self.index[node] = Some(self.next);
        self.low[node] = self.next;
        self.next += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
        for &succ in &self.successors[node] {
            match self.index[succ] {
                None => {
                    self.visit(succ);
                    self.low[node] = self.low[node].min(self.low[succ]);
                }
                Some(succ_index) if self.on_stack[succ] => {
                    self.low[node] = self.low[node].min(succ_index);
                }
                Some(_) => {}
            }
        }
        if Some(self.low[node]) == self.index[node] {
            let mut component = Vec::new();
            while let Some(top) = self.stack.pop() {
                self.on_stack[top] = false;
                component.push(top);
                if top == node {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::{Anchor, circles, strip, used_paths};

    fn leaves(text: &str) -> Vec<(usize, String)> {
        used_paths(text)
            .into_iter()
            .map(|(line, used)| {
                let anchor = match used.anchor {
                    Anchor::Crate => "crate".to_owned(),
                    Anchor::Super(n) => format!("super{n}"),
                };
                (line, format!("{anchor}:{}", used.segments.join("::")))
            })
            .collect()
    }

    #[test]
    fn paths_and_use_trees() {
        let text = "use crate::a::{b, c::{d, self}, e::*};\n\
                    // crate::commented::out\n\
                    let s = \"crate::in_string\";\n\
                    fn f() { super::super::g::h(); x::crate_like::y; }\n\
                    use crate::{\n    k,\n    l::m,\n};\n";
        assert_eq!(
            leaves(text),
            [
                (1, "crate:a::b".to_owned()),
                (1, "crate:a::c::d".to_owned()),
                (1, "crate:a::c".to_owned()),
                (1, "crate:a::e".to_owned()),
                (4, "super2:g::h".to_owned()),
                (5, "crate:k".to_owned()),
                (5, "crate:l::m".to_owned()),
            ]
        );
    }

    #[test]
    fn test_modules_and_literals_are_left_out() {
        let text = "fn a() { let c = '\"'; let l: &'static str = r#\"crate::x\"#; }\n\
                    #[cfg(test)]\nmod tests {\n    use crate::b;\n    fn t() { {} }\n}\n\
                    fn z() { crate::c::d(); }\n";
        let stripped = strip(text);
        assert_eq!(stripped.lines().count(), text.lines().count());
        assert_eq!(leaves(text), [(7, "crate:c::d".to_owned())]);
    }

    /// A seeded crate: `b` (through its child `b::inner`) uses `c`, `c` uses `b`, `a` uses
    /// both; `b::inner` using its parent `b` is no circle.
    #[test]
    fn finds_a_circle_through_a_child() {
        let dir = std::env::temp_dir().join(format!("tidy-circles-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("src/b")).unwrap();
        let write = |path: &str, text: &str| fs::write(dir.join(path), text).unwrap();
        write("src/lib.rs", "//! Root.\nmod a;\npub mod b;\nmod c;\n");
        write("src/a.rs", "//! A.\nuse crate::{b::B, c::C};\n");
        write("src/b.rs", "//! B.\nmod inner;\npub struct B;\n");
        write(
            "src/b/inner.rs",
            "//! Inner.\nuse super::B;\nuse crate::c::C;\n",
        );
        write(
            "src/c.rs",
            "//! C.\npub struct C;\nfn f() { let _ = crate::b::B; }\n",
        );
        let found = circles(&dir, &dir.join("src/lib.rs")).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name(), "b ↔ c");
        let evidence: Vec<String> = found[0]
            .edges
            .iter()
            .map(|(from, to, e)| format!("{from}→{to} {}:{} {}", e.file, e.line, e.path))
            .collect();
        assert_eq!(
            evidence,
            [
                "b→c src/b/inner.rs:3 crate::c::C",
                "c→b src/c.rs:3 crate::b::B"
            ]
        );
        // Cut it: `c` no longer uses `b`.
        write("src/c.rs", "//! C.\npub struct C;\n");
        assert!(circles(&dir, &dir.join("src/lib.rs")).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
