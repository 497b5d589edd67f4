//! Which passphrases may protect a profile or an export: a small rule that refuses the
//! very weak ones with a reason, in the spirit of NIST SP 800-63B §5.1.1.2 (a minimum
//! length, no repetitive or sequential strings, none of the commonly used passwords)
//! without shipping a dictionary: the page must stay small.
//!
//! A passphrase is refused if it
//! - has fewer than [`MIN_CHARS`] characters (Unicode scalar values), or
//! - uses fewer than [`MIN_DISTINCT_CHARS`] different characters (`aaaaaaaaaa`,
//!   `abababababab`), or
//! - is nothing but digits, spaces and punctuation (a number is a PIN), or
//! - is a run of the alphabet, the digits or a keyboard row, either way
//!   (`abcdefghijk`, `qwertyuiop`, `0987654321`), or
//! - is one of the most common passwords with digits, spaces or symbols around it
//!   (`Password123!`, `iloveyou2024`): its letters alone are in [`COMMON`].
//!
//! Only passphrases being *chosen* are checked; unlocking and importing take any.

/// Fewest characters a passphrase may have.
pub const MIN_CHARS: usize = 10;
/// Fewest different characters a passphrase may use.
pub const MIN_DISTINCT_CHARS: usize = 5;

/// Runs that people type as "random": the alphabet, the digits, keyboard rows (QWERTY,
/// QWERTZ, AZERTY) and columns. A passphrase that is part of one, or of one reversed, is
/// refused.
const SEQUENCES: [&str; 6] = [
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "1234567890qwertyuiopasdfghjklzxcvbnm",
    "1234567890qwertzuiopasdfghjklyxcvbnm",
    "1234567890azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
];

/// The letters of the most common passwords of leaked lists (lowercase), the app's own
/// name and the words people type when asked for a password.
pub const COMMON: [&str; 40] = [
    "password",
    "passwort",
    "passphrase",
    "passw",
    "pass",
    "motdepasse",
    "contrasena",
    "qwerty",
    "qwertz",
    "azerty",
    "asdf",
    "iloveyou",
    "letmein",
    "welcome",
    "admin",
    "administrator",
    "monkey",
    "dragon",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "batman",
    "starwars",
    "whatever",
    "trustno",
    "secret",
    "changeme",
    "confab",
    "hello",
    "helloworld",
    "master",
    "shadow",
    "login",
    "abc",
    "test",
    "love",
    "freedom",
    "computer",
];

/// Why a passphrase was refused ([`check`]). The messages are for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeakPassphrase {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("a passphrase needs at least 10 characters")]
    TooShort,
    /// Fewer than [`MIN_DISTINCT_CHARS`] different characters.
    #[error("a passphrase needs at least 5 different characters")]
    TooRepetitive,
    /// Only digits (and spaces or punctuation).
    #[error("a passphrase of digits only is too easy to guess; use words")]
    OnlyDigits,
    /// A run of the alphabet, the digits or a keyboard row.
    #[error("a run of letters, digits or keyboard keys is too easy to guess")]
    Sequence,
    /// One of the most common passwords, maybe with digits or symbols added.
    #[error("that is one of the most common passwords")]
    Common,
}

/// Whether `passphrase` may protect a profile or an export (see the module docs).
pub fn check(passphrase: &str) -> Result<(), WeakPassphrase> {
    let chars: Vec<char> = passphrase.chars().flat_map(char::to_lowercase).collect();
    if passphrase.chars().count() < MIN_CHARS {
        return Err(WeakPassphrase::TooShort);
    }
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT_CHARS {
        return Err(WeakPassphrase::TooRepetitive);
    }
    if chars
        .iter()
        .all(|c| c.is_ascii_digit() || c.is_whitespace() || c.is_ascii_punctuation())
    {
        return Err(WeakPassphrase::OnlyDigits);
    }
    let lowered: String = chars.iter().collect();
    let reversed: String = chars.iter().rev().collect();
    if SEQUENCES
        .iter()
        .any(|run| run.contains(&lowered) || run.contains(&reversed))
    {
        return Err(WeakPassphrase::Sequence);
    }
    // Its letters alone ("Password123!"), and what comes before a tail of digits and
    // symbols, read as the letters they stand for ("P@ssw0rd2024", "$3cr3t-99").
    let letters: String = chars.iter().filter(|c| c.is_alphabetic()).collect();
    let head: String = lowered
        .trim_end_matches(|c: char| !c.is_alphabetic())
        .chars()
        .map(unleet)
        .filter(|c| c.is_alphabetic())
        .collect();
    if COMMON.contains(&letters.as_str()) || COMMON.contains(&head.as_str()) {
        return Err(WeakPassphrase::Common);
    }
    Ok(())
}

/// The letter a digit or symbol often stands for in a password.
fn unleet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | '!' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all(cases: &[&str], expected: Result<(), WeakPassphrase>) {
        for case in cases {
            assert_eq!(check(case), expected, "{case:?}");
        }
    }

    #[test]
    fn very_weak_passphrases_are_refused_with_their_reason() {
        check_all(
            &["", "hunter2", "Tr0ub4dor", "ééééééééé"],
            Err(WeakPassphrase::TooShort),
        );
        check_all(
            &["aaaaaaaaaaaa", "abababababab", "1111122222", "abcdabcdabcd"],
            Err(WeakPassphrase::TooRepetitive),
        );
        check_all(
            &["8675309123", "0612 345 678", "31.12.1999-42", "0987654321"],
            Err(WeakPassphrase::OnlyDigits),
        );
        check_all(
            &[
                "abcdefghijk",
                "QWERTYUIOP",
                "ponmlkjihgf",
                "zyxwvutsrqpo",
                "1qaz2wsx3edc",
                "7890qwerty",
            ],
            Err(WeakPassphrase::Sequence),
        );
        check_all(
            &[
                "Password123!",
                "iloveyou2024",
                "P@ssw0rd2024",
                "confab 12345",
                "letmein!!!!99",
                "$3cr3t-2024!",
            ],
            Err(WeakPassphrase::Common),
        );
    }

    #[test]
    fn ordinary_passphrases_pass() {
        check_all(
            &[
                "correct horse battery staple",
                "Tr0ub4dor&3x",
                "blue cheese moon",
                "mot de passe sûr et long",
                "ключ от двери",
                "1234-5678-90ab-cdef",
                "export passphrase",
            ],
            Ok(()),
        );
    }
}
