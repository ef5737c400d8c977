//! A standalone HTML head view of one input: the attention JSON embedded in a page with a few lines of plain
//! JavaScript — no network, no model download. For slides and course pages (UI export and `nlu-lab … --format html`).

use super::attention::AttentionData;

const TEMPLATE: &str = include_str!("assets/standalone.html");

pub fn standalone_html(data: &AttentionData) -> String {
    // Inside <script>, "</script>" or "<!--" in a token would end or confuse the element: escape every '<'
    // (JSON allows \u003c anywhere in a string).
    let json = data.to_json().to_string().replace('<', "\\u003c");
    TEMPLATE.replace("__ATTENTION_JSON__", &json)
}
