//! Tokens as a student reads them: the tokenizer's markers taken off (`Ġ` and `▁` for "a word starts here", `</w>`
//! for "a word ends here", `##` for "this piece continues a word"), byte-level BPE's stand-in characters turned back
//! into the text they encode (`Ã©` → `é`, `Ċ` → `↵`), as bertviz and exBERT show them. A piece that continues the
//! word before it starts with [`CONTINUES`], so "playing" split in two reads `play ·ing` whatever the tokenizer.
//! The raw token stays what the data, the exports and the tooltips carry.

use super::AttentionData;

/// Shown before a piece that continues the previous token's word.
pub const CONTINUES: char = '·';

/// How a tokenizer marks word boundaries in its tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStyle {
    /// BERT's WordPiece: `##` before a piece that continues a word.
    WordPiece,
    /// GPT-2 / RoBERTa byte-level BPE: every byte as a printable stand-in, `Ġ` for the space before a word.
    ByteLevel,
    /// SentencePiece (ALBERT, XLM-R, T5): `▁` for the space before a word.
    SentencePiece,
    /// CLIP's BPE: `</w>` after the last piece of a word.
    ClipBpe,
}

impl TokenStyle {
    /// The style a sequence's tokens show (WordPiece, which has no mark on a word's first piece, when none shows).
    pub fn of(tokens: &[String]) -> Self {
        if tokens.iter().any(|t| t.ends_with("</w>")) {
            Self::ClipBpe
        } else if tokens.iter().any(|t| t.starts_with('Ġ') || t.contains('Ċ')) {
            Self::ByteLevel
        } else if tokens.iter().any(|t| t.starts_with('▁')) {
            Self::SentencePiece
        } else {
            Self::WordPiece
        }
    }
}

/// GPT-2's byte ↔ printable character table (`bytes_to_unicode` in its encoder): printable Latin-1 bytes stand for
/// themselves, the other 68 bytes for U+0100 onwards in byte order. `None` for a character no byte maps to.
fn byte_of(c: char) -> Option<u8> {
    let code = c as u32;
    match code {
        33..=126 | 161..=172 | 174..=255 => Some(code as u8),
        // The others, in byte order: 0–32 (33 of them), 127–160 (34), 173.
        256..=288 => Some((code - 256) as u8),
        289..=322 => Some((code - 289 + 127) as u8),
        323 => Some(173),
        _ => None,
    }
}

/// Whitespace a reader can see.
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '↵',
            '\t' => '⇥',
            '\r' => '␍',
            c => c,
        })
        .collect()
}

/// One token as a reader sees it. `continues`: the token is a later piece of the previous token's word.
pub fn pretty_token(raw: &str, style: TokenStyle, continues: bool) -> String {
    let text = match style {
        TokenStyle::WordPiece => raw.strip_prefix("##").filter(|rest| !rest.is_empty()).unwrap_or(raw).to_string(),
        TokenStyle::ClipBpe => raw.strip_suffix("</w>").filter(|rest| !rest.is_empty()).unwrap_or(raw).to_string(),
        TokenStyle::SentencePiece => raw.replace('▁', " "),
        TokenStyle::ByteLevel => match raw.chars().map(byte_of).collect::<Option<Vec<u8>>>() {
            // A piece of a character split over two tokens shows as one U+FFFD.
            Some(bytes) => String::from_utf8_lossy(&bytes).chars().fold(String::new(), |mut text, c| {
                if !(c == '\u{FFFD}' && text.ends_with('\u{FFFD}')) {
                    text.push(c);
                }
                text
            }),
            None => raw.to_string(), // a special token such as <|endoftext|> is not byte-encoded
        },
    };
    // The space that marks a word's start is not shown; a token that is only spaces is.
    let trimmed = text.strip_prefix(' ').unwrap_or(&text);
    let shown = if !text.is_empty() && text.chars().all(|c| c == ' ') {
        text.replace(' ', "␣")
    } else {
        visible(trimmed)
    };
    if continues {
        format!("{CONTINUES}{shown}")
    } else {
        shown
    }
}

impl AttentionData {
    /// Whether token `i` is a later piece of token `i − 1`'s word (same word of the same text, neither special).
    pub fn continues_word(&self, i: usize) -> bool {
        i > 0
            && !self.special[i]
            && !self.special[i - 1]
            && self.words[i].is_some()
            && self.words[i] == self.words[i - 1]
            && self.segments[i] == self.segments[i - 1]
    }

    /// Every token as [`pretty_token`] shows it.
    pub fn display_tokens(&self) -> Vec<String> {
        let style = TokenStyle::of(&self.tokens);
        (0..self.len())
            .map(|i| if self.special[i] { self.tokens[i].clone() } else { pretty_token(&self.tokens[i], style, self.continues_word(i)) })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(tokens: &[&str], continues: &[bool]) -> Vec<String> {
        let tokens: Vec<String> = tokens.iter().map(|t| t.to_string()).collect();
        let style = TokenStyle::of(&tokens);
        tokens.iter().zip(continues).map(|(t, &c)| pretty_token(t, style, c)).collect()
    }

    #[test]
    fn wordpiece_pieces_lose_their_hashes_and_show_they_continue() {
        assert_eq!(shown(&["play", "##ing", "#", "##"], &[false, true, false, false]), ["play", "·ing", "#", "##"]);
    }

    #[test]
    fn byte_level_tokens_read_as_their_text() {
        // GPT-2's tokens for " café\n" and a character split over two tokens ("🙂" is 4 bytes: F0 9F 99 82).
        assert_eq!(
            shown(&["The", "Ġcaf", "Ã©", "Ċ", "ĠðŁ", "ĻĤ", "ĠĠ", "<|endoftext|>"], &[false, false, true, false, false, true, false, false]),
            ["The", "caf", "·é", "↵", "\u{FFFD}", "·\u{FFFD}", "␣␣", "<|endoftext|>"]
        );
    }

    #[test]
    fn sentencepiece_and_clip_markers_come_off() {
        assert_eq!(shown(&["▁Hello", "▁wor", "ld", "▁"], &[false, false, true, false]), ["Hello", "wor", "·ld", "␣"]);
        assert_eq!(shown(&["a</w>", "rock", "et</w>", "</w>"], &[false, false, true, false]), ["a", "rock", "·et", "</w>"]);
    }

    #[test]
    fn the_byte_table_inverts_gpt2s() {
        // Every byte has exactly one stand-in: 188 printable ones and 68 from U+0100.
        let mut seen = [false; 256];
        for c in (33u32..=126).chain(161..=172).chain(174..=255).chain(256..256 + 68) {
            let b = byte_of(char::from_u32(c).unwrap()).unwrap();
            assert!(!seen[b as usize], "byte {b} twice");
            seen[b as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(byte_of('Ġ'), Some(b' '));
        assert_eq!(byte_of('Ċ'), Some(b'\n'));
        assert_eq!(byte_of(char::from_u32(256 + 68).unwrap()), None);
    }
}
