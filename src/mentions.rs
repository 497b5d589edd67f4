//! @mentions in the composer: which member names the text being typed after an `@` may
//! complete to, and which members a message mentions (each `@name` of a member in it).

use confab_core::MemberKey;

/// Longest text after an `@` still completed (a long name and some).
const MAX_QUERY_CHARS: usize = 40;
/// Most names offered at once.
const MAX_OFFERED: usize = 8;

/// The `@` being typed at `caret` (a byte index): where it is and what follows it up to
/// the caret. An `@` counts at the start or after a space or punctuation (not inside an
/// e-mail address), on the caret's line, at most [`MAX_QUERY_CHARS`] before it.
pub fn query_at(text: &str, caret: usize) -> Option<(usize, &str)> {
    let before = text.get(..caret)?;
    let (at, _) = before
        .char_indices()
        .rev()
        .take(MAX_QUERY_CHARS + 1)
        .take_while(|(_, c)| *c != '\n')
        .find(|(_, c)| *c == '@')?;
    let starts_word = before[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric());
    starts_word.then(|| (at, &before[at + 1..]))
}

/// The members whose name the query may complete to: names that start with it (case
/// ignored) first, then those with a word that does, by name; at most [`MAX_OFFERED`].
pub fn offered(members: &[(MemberKey, String)], query: &str) -> Vec<(MemberKey, String)> {
    let query = query.to_lowercase();
    let mut first: Vec<(MemberKey, String)> = Vec::new();
    let mut then: Vec<(MemberKey, String)> = Vec::new();
    for (key, name) in members {
        let lower = name.to_lowercase();
        if lower.starts_with(&query) {
            first.push((*key, name.clone()));
        } else if lower
            .split_whitespace()
            .any(|word| word.starts_with(&query))
        {
            then.push((*key, name.clone()));
        }
    }
    first.sort_by(|a, b| a.1.cmp(&b.1));
    then.sort_by(|a, b| a.1.cmp(&b.1));
    first.extend(then);
    first.truncate(MAX_OFFERED);
    first
}

/// The members `text` mentions: each whose `@name` appears in it, not followed by a letter
/// or digit (so "@Al" does not mention "Al" in "@Alice").
pub fn mentioned(text: &str, members: &[(MemberKey, String)]) -> Vec<MemberKey> {
    let mut keys: Vec<MemberKey> = members
        .iter()
        .filter(|(_, name)| !name.is_empty())
        .filter(|(_, name)| {
            let needle = format!("@{name}");
            text.match_indices(&needle).any(|(idx, _)| {
                let after = text[idx + needle.len()..].chars().next();
                after.is_none_or(|c| !c.is_alphanumeric())
            })
        })
        .map(|(key, _)| *key)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use confab_core::MemberKey;
    use wasm_bindgen_test::*;

    use super::{mentioned, offered, query_at};

    wasm_bindgen_test_configure!(run_in_browser);

    fn members() -> Vec<(MemberKey, String)> {
        [(1, "Alice"), (2, "Bob"), (3, "Guest 1234"), (4, "Al")]
            .into_iter()
            .map(|(n, name)| (MemberKey::from_bytes([n; 32]), name.to_owned()))
            .collect()
    }

    #[wasm_bindgen_test]
    fn an_at_sign_starts_a_query_only_at_a_word_start_on_the_caret_line() {
        assert_eq!(query_at("hi @Al", 6), Some((3, "Al")));
        assert_eq!(query_at("@", 1), Some((0, "")));
        assert_eq!(query_at("(@Gue", 5), Some((1, "Gue")));
        assert_eq!(query_at("hi @Guest 12", 12), Some((3, "Guest 12")));
        assert_eq!(query_at("mail a@b.c", 10), None);
        assert_eq!(query_at("@Al\nnext", 8), None);
        assert_eq!(query_at("no at here", 10), None);
        assert_eq!(query_at(&format!("@{}", "x".repeat(41)), 42), None);
        // The caret inside the text: only what is before it counts.
        assert_eq!(query_at("@Bo and more", 3), Some((0, "Bo")));
        assert_eq!(query_at("é@", "é@".len()), None);
    }

    #[wasm_bindgen_test]
    fn names_starting_with_the_query_come_first() {
        let names = |query: &str| -> Vec<String> {
            offered(&members(), query)
                .into_iter()
                .map(|(_, name)| name)
                .collect()
        };
        assert_eq!(names(""), ["Al", "Alice", "Bob", "Guest 1234"]);
        assert_eq!(names("al"), ["Al", "Alice"]);
        assert_eq!(names("12"), ["Guest 1234"]);
        assert!(names("zed").is_empty());
    }

    #[wasm_bindgen_test]
    fn a_message_mentions_each_member_whose_at_name_it_holds() {
        let keys = |text: &str| -> Vec<u8> {
            mentioned(text, &members())
                .into_iter()
                .map(|key| key.as_bytes()[0])
                .collect()
        };
        assert_eq!(keys("@Alice and @Bob, hi"), [1, 2]);
        assert_eq!(keys("@Alice"), [1]);
        assert_eq!(keys("@Al!"), [4]);
        assert_eq!(keys("@Guest 1234 @Guest 1234"), [3]);
        assert!(keys("Alice, bob@Bobby.org").is_empty());
    }
}
