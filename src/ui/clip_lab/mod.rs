//! The CLIP lab: an image (file, drop, paste or URL) and captions in; CLIP's probability per caption out, with
//! the assignment's verdict (top probability below 0.6 = a confusing pair) and the exact crop the model saw.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{Clamped, JsCast};
use wasm_bindgen_futures::JsFuture;

use super::camera::Camera;
use super::clip_extras::{CaptionAttention, SubmissionExport, VisionHeatmap};
use super::embed::{EmbedPanel, EmbedView};
use super::export;
use super::guide;
use crate::engine::catalogue;
use crate::engine::clip::ClipResult;
use crate::web::hub::hub_from_page;
use crate::web::messages::{ModelSource, Request, Response};
use crate::web::permalink;
use crate::web::worker_client;

/// The assignment's rule: a pair confuses CLIP when its top probability is below this.
pub const CONFUSING_BELOW: f32 = 0.6;

/// The captions a new lab starts with (unless the URL gives some).
const DEFAULT_CAPTIONS: [&str; 2] = ["a photo of a cat", "a photo of a dog"];

#[derive(Clone)]
struct ImageInput {
    name: String,
    bytes: Arc<Vec<u8>>,
    /// A blob: URL of the original, for the preview.
    url: String,
}

async fn file_bytes(file: web_sys::File) -> Result<ImageInput, String> {
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(|_| "cannot read that file".to_string())?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    let url = web_sys::Url::create_object_url_with_blob(&file).unwrap_or_default();
    Ok(ImageInput { name: file.name(), bytes: Arc::new(bytes), url })
}

async fn url_bytes(url: String) -> Result<ImageInput, String> {
    let bytes = crate::web::fetch::fetch_bytes(&url, &|_, _| {}).await.map_err(|_| {
        "That site does not let other pages read its images (CORS). Download the image and drop it here instead."
            .to_string()
    })?;
    let array = js_sys::Uint8Array::from(bytes.as_slice());
    let blob = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&array)).map_err(|_| "bad image".to_string())?;
    let preview = web_sys::Url::create_object_url_with_blob(&blob).unwrap_or_default();
    let name = url.rsplit('/').next().unwrap_or("image").to_string();
    Ok(ImageInput { name, bytes: Arc::new(bytes), url: preview })
}

fn photo_input(png: Vec<u8>) -> ImageInput {
    let array = js_sys::Uint8Array::from(png.as_slice());
    let url = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&array))
        .ok()
        .and_then(|b| web_sys::Url::create_object_url_with_blob(&b).ok())
        .unwrap_or_default();
    ImageInput { name: "camera photo".into(), bytes: Arc::new(png), url }
}

/// Draw the 224×224 RGB crop the model saw.
fn draw_crop(canvas: &web_sys::HtmlCanvasElement, result: &ClipResult) {
    let (w, h) = (result.preview_width as u32, result.preview_height as u32);
    if w == 0 || h == 0 {
        return;
    }
    canvas.set_width(w);
    canvas.set_height(h);
    let rgba: Vec<u8> = result.preview_rgb.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    let Ok(Some(ctx)) = canvas.get_context("2d") else { return };
    let ctx: web_sys::CanvasRenderingContext2d = ctx.unchecked_into();
    if let Ok(data) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), w, h) {
        let _ = ctx.put_image_data(&data, 0.0, 0.0);
    }
}

/// Every pair of captions ranked by how confusing it is: the pair's own two-way softmax, top closest to 0.5.
pub fn rank_pairs(logits: &[f32]) -> Vec<(usize, usize, f32)> {
    let mut pairs = Vec::new();
    for i in 0..logits.len() {
        for j in i + 1..logits.len() {
            let top = 1.0 / (1.0 + (-(logits[i] - logits[j]).abs()).exp());
            pairs.push((i, j, top));
        }
    }
    pairs.sort_by(|a, b| a.2.total_cmp(&b.2));
    pairs
}

#[component]
pub fn ClipLab(
    cache: super::cache_panel::CacheState,
    /// Embedded in a course page (`?embed=clip`): no title, no Embed button.
    #[prop(optional)]
    embed: bool,
) -> impl IntoView {
    let guide = guide::progress();
    let model = RwSignal::new(catalogue::clips().next().expect("a CLIP model").repo.to_string());
    let entry = move || catalogue::find(&model.get()).expect("a catalogue entry");
    let image = RwSignal::new(None::<ImageInput>);
    let from_link = permalink::read_captions();
    let captions = RwSignal::new(if from_link.is_empty() { DEFAULT_CAPTIONS.map(String::from).to_vec() } else { from_link });
    // The guide's "wrote two captions": two non-empty ones, not just the starting pair.
    if guide.is_some() {
        Effect::new(move |_| {
            let written = captions.with(|cs| cs.iter().filter(|c| !c.trim().is_empty()).count() >= 2 && *cs != DEFAULT_CAPTIONS);
            if written {
                guide::mark(guide, |g| g.captions_written);
            }
        });
    }
    let embed_url = Callback::new(move |view: EmbedView| {
        // The attention lab's state in the URL means nothing to an embedded CLIP lab: leave it out.
        let mut params = permalink::AttentionLink::default().params();
        params.push(("caption", captions.get()));
        params.push(("embed", vec![view.key().to_string()]));
        permalink::page_url(&params)
    });
    let template = RwSignal::new(String::new());
    let candidates = RwSignal::new(String::new());
    let result = RwSignal::new(None::<Arc<ClipResult>>);
    let ranked = RwSignal::new(Vec::<(String, String, f32)>::new());
    let status = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let url_field = RwSignal::new(String::new());
    let crop_canvas = NodeRef::<leptos::html::Canvas>::new();

    let set_image = move |fut: std::pin::Pin<Box<dyn std::future::Future<Output = Result<ImageInput, String>>>>| {
        spawn_local(async move {
            match fut.await {
                Ok(img) => {
                    error.set(None);
                    result.set(None);
                    image.set(Some(img));
                    guide::mark(guide, |g| g.image_chosen);
                }
                Err(e) => error.set(Some(e)),
            }
        })
    };
    let take_files = move |files: Option<web_sys::FileList>| {
        if let Some(file) = files.and_then(|f| f.get(0)) {
            set_image(Box::pin(file_bytes(file)));
        }
    };

    let applied = move |caption: &str| -> String {
        let t = template.get_untracked();
        if t.contains("{}") { t.replace("{}", caption) } else { caption.to_string() }
    };

    // Score `list` against the image; `search` = rank the pairs instead of showing the captions' bars.
    let classify = move |list: Vec<String>, search: bool| {
        let Some(img) = image.get_untracked() else {
            return error.set(Some("Choose an image first: a file, drop or paste one, or give a URL.".into()));
        };
        let e = catalogue::find(&model.get_untracked()).expect("a catalogue entry");
        let hub = match hub_from_page(e.repo) {
            Ok(h) => h,
            Err(e) => return error.set(Some(e)),
        };
        let source = ModelSource { hub, repo: e.repo.into(), revision: e.revision.into() };
        let list: Vec<String> = list.iter().map(|c| applied(c)).collect();
        let request = Request::Classify { source, image: img.bytes.as_ref().clone(), captions: list.clone() };
        error.set(None);
        busy.set(true);
        status.set("Starting…".into());
        spawn_local(async move {
            let on_progress = move |p: &Response| {
                if let Some(text) = super::export::progress_text(p) {
                    status.set(text);
                }
            };
            match worker_client::request(request, on_progress).await {
                Response::Clip { result: r, forward_ms, load_ms, memory_bytes } => {
                    let mut s = format!("{} captions scored in {forward_ms:.0} ms", r.captions.len());
                    if worker_client::threads() > 1 {
                        s += &format!(" on {} threads", worker_client::threads());
                    }
                    if load_ms > 0.0 {
                        s += &format!(" · model loaded in {load_ms:.0} ms · worker memory {}", export::format_bytes(memory_bytes));
                    }
                    status.set(s);
                    if search {
                        ranked.set(
                            rank_pairs(&r.logits).into_iter().take(10).map(|(i, j, p)| (list[i].clone(), list[j].clone(), p)).collect(),
                        );
                    } else {
                        cache.refresh();
                        if let Some(canvas) = crop_canvas.get_untracked() {
                            draw_crop(&canvas, &r);
                        }
                        if let Some(g) = guide {
                            g.clip_top.set(Some(r.probs.iter().copied().fold(0.0, f32::max)));
                        }
                        result.set(Some(Arc::from(r)));
                    }
                }
                Response::Error(e) => {
                    status.set(String::new());
                    error.set(Some(e));
                }
                other => error.set(Some(format!("unexpected answer from the worker: {other:?}"))),
            }
            busy.set(false);
        });
    };

    let caption_rows = move || {
        let list = captions.get();
        let n = list.len();
        list.into_iter()
            .enumerate()
            .map(|(i, c)| {
                view! {
                    <li class="caption-row">
                        <input type="text" class="caption" aria-label=format!("caption {}", i + 1) prop:value=c
                            on:input=move |ev| { let v = event_target_value(&ev); captions.update(|cs| cs[i] = v); } />
                        <button type="button" aria-label=format!("move caption {} up", i + 1) prop:disabled=i == 0
                            on:click=move |_| captions.update(|cs| cs.swap(i, i - 1))>"↑"</button>
                        <button type="button" aria-label=format!("move caption {} down", i + 1) prop:disabled=i + 1 == n
                            on:click=move |_| captions.update(|cs| cs.swap(i, i + 1))>"↓"</button>
                        <button type="button" aria-label=format!("remove caption {}", i + 1)
                            on:click=move |_| captions.update(|cs| { cs.remove(i); })>"✕"</button>
                    </li>
                }
            })
            .collect_view()
    };

    let results = move || {
        result.get().map(|r| {
            let top = r.probs.iter().copied().fold(0.0, f32::max);
            let verdict = if r.probs.len() < 2 {
                "Add a second caption: the assignment compares two.".to_string()
            } else if top < CONFUSING_BELOW {
                format!("Confusing: the top probability is {top:.3}, below {CONFUSING_BELOW} — this pair meets the assignment's rule.")
            } else {
                format!("Not confusing yet: the top probability is {top:.3} (needs < {CONFUSING_BELOW}). Try more specific captions.")
            };
            let rows = r
                .captions
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let p = r.probs[i];
                    view! {
                        <tr data-testid="clip-row">
                            <td class="caption-text">{c.clone()}{r.truncated[i].then(|| view! { <span class="note">" (cut to 77 tokens)"</span> })}</td>
                            <td class="prob-cell"><span class="bar" style=format!("width: {:.1}%", p * 100.0)></span>
                                <span class="num" data-testid="prob" data-prob=p.to_string()>{format!("{p:.4}")}</span></td>
                            <td class="num">{format!("{:.2}", r.logits[i])}</td>
                            <td class="num">{format!("{:.4}", r.cosines[i])}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <p class="verdict" data-testid="verdict" class:confusing=top < CONFUSING_BELOW>{verdict}</p>
                <table class="clip-results">
                    <thead><tr><th>"caption"</th><th>"probability"</th><th>"logit"</th><th>"cosine"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }
        })
    };

    view! {
        <section class="lab" aria-label="CLIP lab">
            {(!embed).then(|| view! {
                <div class="lab-title"><h2 id="clip-lab-title">"CLIP lab"</h2>
                    <EmbedPanel views=vec![EmbedView::Clip] url_for=embed_url /></div>
            })}
            <label>"Model "
                <select id="clip-model" on:change=move |ev| { model.set(event_target_value(&ev)); result.set(None); }>
                    {catalogue::clips().map(|e| view! { <option value=e.repo>{move || format!("{} — {} MB{}", e.display_name, e.download_mb,
                        if cache.has_model(e.repo) { " · stored, works offline" } else { "" })}</option> }).collect_view()}
                </select>
            </label>
            <p class="hint">{move || entry().description}</p>
            <div class="drop-zone" tabindex="0" data-testid="drop-zone" aria-label="image: drop or paste here"
                on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default()
                on:drop=move |ev: web_sys::DragEvent| { ev.prevent_default(); take_files(ev.data_transfer().and_then(|d| d.files())); }
                on:paste=move |ev: web_sys::ClipboardEvent| take_files(ev.clipboard_data().and_then(|d| d.files()))>
                {move || match image.get() {
                    Some(img) => view! { <img class="original" src=img.url alt=format!("your image: {}", img.name) /> }.into_any(),
                    None => view! { <p>"Drop an image here, paste one (Ctrl+V), or choose a file."</p> }.into_any(),
                }}
                <input type="file" accept="image/*" data-testid="image-file" aria-label="choose an image file"
                    on:change=move |ev| {
                        let input: web_sys::HtmlInputElement = event_target(&ev);
                        take_files(input.files());
                    } />
                <Camera on_photo=Callback::new(move |png: Vec<u8>| set_image(Box::pin(async move { Ok(photo_input(png)) })))
                    on_error=Callback::new(move |e| error.set(Some(e))) />
                <div class="url-row">
                    <input type="url" placeholder="https://… image URL" aria-label="image URL" prop:value=move || url_field.get()
                        on:input=move |ev| url_field.set(event_target_value(&ev)) />
                    <button type="button" on:click=move |_| set_image(Box::pin(url_bytes(url_field.get_untracked())))>"Load URL"</button>
                </div>
            </div>
            <h3>"Captions"</h3>
            <ol class="captions">{caption_rows}</ol>
            <button type="button" on:click=move |_| captions.update(|cs| cs.push(String::new()))>"Add caption"</button>
            <label class="template">"Template (optional): "
                <input type="text" placeholder="a photo of {}" prop:value=move || template.get()
                    on:input=move |ev| template.set(event_target_value(&ev)) /></label>
            <div><button id="classify" type="button" prop:disabled=move || busy.get()
                on:click=move |_| classify(captions.get_untracked(), false)>"Classify"</button></div>
            <p class="status" role="status" aria-live="polite">{move || status.get()}</p>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <div class="clip-output">
                <figure class="crop-figure"><div class="crop-stack">
                    <canvas node_ref=crop_canvas class="crop" width="224" height="224" aria-label="the 224×224 crop CLIP sees"></canvas>
                    {move || result.get().map(|r| view! { <VisionHeatmap result=r /> })}
                </div><figcaption>"What CLIP sees (224×224 centre crop); red: where its [CLS] token attends"</figcaption></figure>
                <div>{results}
                    {move || result.get().zip(image.get()).map(|(r, img)| view! {
                        <SubmissionExport result=r image=img.bytes revision=entry().revision crop=crop_canvas />
                    })}
                </div>
            </div>
            {move || result.get().map(|r| view! { <h3>"Attention inside a caption"</h3><CaptionAttention result=r /> })}
            <h3>"Search for a confusing pair"</h3>
            <p class="hint">"One candidate caption per line; all are scored in one batch and the pairs ranked by how close their top probability is to 0.5."</p>
            <textarea data-testid="candidates" prop:value=move || candidates.get() on:input=move |ev| candidates.set(event_target_value(&ev))></textarea>
            <button type="button" data-testid="search" prop:disabled=move || busy.get()
                on:click=move |_| classify(candidates.get_untracked().lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect(), true)>
                "Rank pairs"</button>
            <ol class="ranked" data-testid="ranked">
                {move || ranked.get().into_iter().map(|(a, b, p)| {
                    let (a2, b2) = (a.clone(), b.clone());
                    view! { <li><span>{format!("{a} / {b} — top {p:.3}")}</span>
                        <button type="button" on:click=move |_| captions.set(vec![a2.clone(), b2.clone()])>"Use this pair"</button></li> }
                }).collect_view()}
            </ol>
        </section>
    }
}
