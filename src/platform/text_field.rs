//! [`TextField`]: the message box as views edit it — its text, the caret (as a byte index
//! into the text, though the DOM counts UTF-16 units), replacing the text or inserting at
//! the caret, and fitting its height to its text.

use web_sys::HtmlTextAreaElement;

/// A `<textarea>` the view edits (the composer's "Message").
#[derive(Clone, Debug)]
pub struct TextField(HtmlTextAreaElement);

impl From<HtmlTextAreaElement> for TextField {
    fn from(element: HtmlTextAreaElement) -> TextField {
        TextField(element)
    }
}

impl TextField {
    /// What it holds.
    pub fn text(&self) -> String {
        self.0.value()
    }

    /// Where the caret is (the start of a selection), as a byte index into [`Self::text`].
    pub fn caret(&self) -> usize {
        let text = self.0.value();
        match self.0.selection_start().ok().flatten() {
            Some(units) => byte_index(&text, units),
            None => text.len(),
        }
    }

    /// Replaces the text and fits the height to it.
    pub fn set_text(&self, text: &str) {
        self.0.set_value(text);
        self.fit();
    }

    /// Puts the caret at byte index `at` of the text (a char boundary).
    pub fn set_caret(&self, at: usize) {
        let text = self.0.value();
        let units = text.get(..at).unwrap_or(&text).encode_utf16().count();
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        let _ = self.0.set_selection_range(units, units);
    }

    /// Puts `text` at the caret, replacing what is selected, and the caret after it, with
    /// the focus in the field.
    pub fn insert_at_caret(&self, text: &str) {
        let value = self.0.value();
        let end_of =
            |units: Option<u32>| units.map_or(value.len(), |units| byte_index(&value, units));
        let start = end_of(self.0.selection_start().ok().flatten());
        let end = end_of(self.0.selection_end().ok().flatten()).max(start);
        let (before, after) = (&value[..start], &value[end..]);
        self.set_text(&format!("{before}{text}{after}"));
        self.focus();
        self.set_caret(start + text.len());
    }

    /// Moves the focus to it.
    pub fn focus(&self) {
        let _ = self.0.focus();
    }

    /// Grows (or shrinks) it to its text; past the stylesheet's `max-height` it scrolls.
    pub fn fit(&self) {
        let style = web_sys::HtmlElement::style(&self.0);
        let _ = style.set_property("height", "auto");
        let _ = style.set_property("height", &format!("{}px", self.0.scroll_height() + 2));
    }
}

/// The byte index of a UTF-16 offset in `text` (the end if past it; a char boundary).
pub fn byte_index(text: &str, units: u32) -> usize {
    let mut seen = 0u32;
    for (idx, c) in text.char_indices() {
        if seen >= units {
            return idx;
        }
        seen += c.len_utf16() as u32;
    }
    text.len()
}
