//! Something to look at at once in the CLIP lab: one photo and the lab's starting captions, classified in advance
//! when the site was built (`scripts/build.sh --clip-example REPO`: the pages workflow does it with the real B/32)
//! and announced in index.html. Shown while there is no result of the student's own (also while the model
//! downloads); "Use this image" puts the photo and its captions into the lab, and Classify's result replaces it.
//! A site built without an example has no announcement, and nothing is shown or fetched.

use std::sync::Arc;

use leptos::prelude::*;

use super::image_picker::ImageInput;
use super::ClipState;
use crate::engine::caption_pairs::Verdict;
use crate::engine::catalogue::{find, parse_choice};
use crate::engine::clip_example::ClipExample;

/// `<meta name="nlu-lab-clip-example" data-example="{…}">`, written by scripts/bundle_example.sh.
const CLIP_EXAMPLE_META: &str = "nlu-lab-clip-example";

/// The site's example, if it announces one that reads.
fn announced() -> Option<ClipExample> {
    let document = web_sys::window()?.document()?;
    let meta = document.query_selector(&format!("meta[name=\"{CLIP_EXAMPLE_META}\"]")).ok()??;
    ClipExample::parse(&meta.get_attribute("data-example")?)
        .inspect_err(|e| web_sys::console::warn_1(&format!("the site's CLIP example is not shown: {e}").into()))
        .ok()
}

fn table(example: &ClipExample) -> impl IntoView {
    let rows = example
        .captions
        .iter()
        .zip(&example.probs)
        .zip(&example.logits)
        .map(|((caption, &p), logit)| {
            view! {
                <tr data-testid="example-row">
                    <td class="caption-text">{caption.clone()}</td>
                    <td class="prob-cell"><span class="bar" style=format!("width: {:.1}%", p * 100.0)></span>
                        <span class="num" data-testid="example-prob" data-prob=p.to_string()>{format!("{p:.4}")}</span></td>
                    <td class="num">{format!("{logit:.2}")}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="clip-results">
            <thead><tr><th>"caption"</th><th>"probability"</th><th>"logit"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
pub fn Example(lab: ClipState) -> impl IntoView {
    let Some(example) = announced() else { return ().into_any() };
    let example = Arc::new(example);
    let entry = find(&example.repo);
    let name = entry.map_or(example.repo.clone(), |e| e.display_name.to_string());
    let image_url = format!("examples/{}", example.image);
    let shown = {
        let repo = example.repo.clone();
        Memo::new(move |_| lab.result.with(Option::is_none) && parse_choice(&lab.model.get()).0 == repo)
    };
    let use_it = {
        let (example, url) = (example.clone(), image_url.clone());
        move |_| {
            lab.captions.set(example.captions.clone());
            lab.set_image(Box::pin(ImageInput::from_url(url.clone())));
        }
    };
    view! {
        {move || shown.get().then(|| view! {
            <section class="example clip-example" data-testid="clip-example" aria-labelledby="clip-example-title">
                <h3 id="clip-example-title">"Example, computed in advance"</h3>
                <p class="hint">{format!(
                    "{name}'s probabilities for this photo and the two starting captions, computed when this site was built, so \
                     that there is something to look at at once. Use this image or choose your own and press Classify: your \
                     browser computes it (the chosen model's weights download once), and its result replaces this one."
                )}</p>
                {(!example.verified).then(|| view! {
                    <p class="note" data-testid="example-unverified">"The model files this example was computed with were not the \
                        catalogue's pinned ones (a test build): these are not the real model's numbers."</p>
                })}
                <div class="clip-example-body">
                    <img src=image_url.clone() alt="the example photo" />
                    <div>
                        <p class="verdict">{Verdict::of(&example.probs).message()}</p>
                        {table(&example)}
                        <button type="button" data-testid="use-example" on:click=use_it.clone()>"Use this image"</button>
                    </div>
                </div>
            </section>
        })}
    }
    .into_any()
}
