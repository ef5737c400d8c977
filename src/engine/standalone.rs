//! A standalone HTML head view of one input: a page with a few lines of plain JavaScript and the attention
//! embedded — no network, no model download. For slides and course pages (UI export and `nlu-lab … --format html`).
//!
//! The page holds two `<script>` data blocks: `attention-meta`, a small JSON header (tokens, shape; the JSON
//! export's fields without the numbers), and `attention-f32`, every attention weight as base64 of little-endian
//! Float32, `[layer][head][from][to]` row-major in one blob. At 512 tokens and bert-base's 144 heads that is 201 MB
//! of base64 instead of 517 MB of JSON numbers, and the page decodes it into one `Float32Array` instead of
//! parsing 37.7 M numbers into nested arrays.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::write::EncoderWriter;
use serde::Serialize;

use super::attention::{AttentionData, AttentionHeader};

const TEMPLATE: &str = include_str!("assets/standalone.html");
const META_SLOT: &str = "__ATTENTION_META__";
const WEIGHTS_SLOT: &str = "__ATTENTION_F32_BASE64__";

/// Schema of the `attention-meta` header.
pub const STANDALONE_SCHEMA: &str = "nlu-lab/attention-standalone@1";

#[derive(Serialize)]
struct Meta<'a> {
    schema: &'static str,
    #[serde(flatten)]
    header: AttentionHeader<'a>,
    /// `[layers, heads, tokens, tokens]`: the shape of the Float32 blob.
    shape: [usize; 4],
}

/// Write the page to `out` (buffered: the base64 goes out in 4 kB pieces, the template in a few large ones).
pub fn write_standalone_html(data: &AttentionData, out: &mut impl Write) -> std::io::Result<()> {
    let n = data.len();
    let meta = Meta {
        schema: STANDALONE_SCHEMA,
        header: AttentionHeader::new(data),
        shape: [data.num_layers, data.num_heads, n, n],
    };
    // Inside <script>, "</script>" or "<!--" in a token would end or confuse the element: escape every '<'
    // (JSON allows \u003c anywhere in a string). Base64 has no '<'.
    let meta = serde_json::to_string(&meta).map_err(std::io::Error::from)?.replace('<', "\\u003c");
    let (head, rest) = TEMPLATE.split_once(META_SLOT).expect("the template has the meta slot");
    let (middle, tail) = rest.split_once(WEIGHTS_SLOT).expect("the template has the weights slot");
    out.write_all(head.as_bytes())?;
    out.write_all(meta.as_bytes())?;
    out.write_all(middle.as_bytes())?;
    {
        let mut encoder = EncoderWriter::new(&mut *out, &STANDARD);
        // Little-endian whatever the host (Float32Array on every browser is little-endian), a block at a time.
        let mut bytes = Vec::with_capacity(3 * 4096);
        for block in data.weights.chunks(3 * 1024) {
            bytes.clear();
            bytes.extend(block.iter().flat_map(|w| w.to_le_bytes()));
            encoder.write_all(&bytes)?;
        }
        encoder.finish()?;
    }
    out.write_all(tail.as_bytes())
}

/// [`write_standalone_html`] into a `String`.
pub fn standalone_html(data: &AttentionData) -> String {
    let mut out = Vec::new();
    write_standalone_html(data, &mut out).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("the template, JSON and base64 are UTF-8")
}
