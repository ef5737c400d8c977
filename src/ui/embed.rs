//! Embed mode: `?embed=head|model|neuron|clip` shows only that view, compact, for an `<iframe>` in a course page.
//! The embedded page reports its height to the parent (`{type: 'nlu-lab:height', height}`) so the iframe can fit
//! it, and the labs' "Embed" button writes the `<iframe>` snippet (plus the listener) for the current view.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::web::permalink;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedView {
    Head,
    Model,
    Neuron,
    Clip,
}

impl EmbedView {
    pub const ATTENTION: [EmbedView; 3] = [EmbedView::Head, EmbedView::Model, EmbedView::Neuron];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "head" => Some(Self::Head),
            "model" => Some(Self::Model),
            "neuron" => Some(Self::Neuron),
            "clip" => Some(Self::Clip),
            _ => None,
        }
    }

    /// The value of `?embed=`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Model => "model",
            Self::Neuron => "neuron",
            Self::Clip => "clip",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Head => "head view",
            Self::Model => "model view",
            Self::Neuron => "neuron view",
            Self::Clip => "CLIP lab",
        }
    }

    /// A first iframe height that is close to the view's, so the page does not jump much when the real height
    /// arrives (or stays usable if the course page has no listener).
    fn initial_height(self) -> u32 {
        match self {
            Self::Head => 620,
            Self::Model => 720,
            Self::Neuron => 640,
            Self::Clip => 900,
        }
    }
}

/// The view this page embeds, from `?embed=`; `None` = the full app.
pub fn embed_from_page() -> Option<EmbedView> {
    permalink::param("embed").as_deref().and_then(EmbedView::parse)
}

/// Escape for a double-quoted HTML attribute.
fn attribute(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The `<iframe>` for `url`, and the listener that sizes it from the embedded page's height messages.
pub fn iframe_snippet(url: &str, view: EmbedView) -> String {
    format!(
        "<iframe src=\"{}\" width=\"100%\" height=\"{}\" style=\"border:0\" loading=\"lazy\" title=\"nlu-lab: {}\"></iframe>\n\
         <script>\n\
         addEventListener('message', (e) => {{ if (e.data?.type !== 'nlu-lab:height') return;\n  \
         for (const f of document.querySelectorAll('iframe')) if (f.contentWindow === e.source) f.height = e.data.height; }});\n\
         </script>",
        attribute(url),
        view.initial_height(),
        view.title()
    )
}

/// The element's rendered height in whole pixels, rounded up (so the iframe never cuts off a fraction of a pixel).
/// Through `Reflect`: `offsetHeight` rounds to the nearest pixel, and web-sys's `getBoundingClientRect` needs
/// the `DomRect` feature, which would rebuild web-sys and everything on it for one number.
fn rendered_height(element: &web_sys::HtmlElement) -> u32 {
    let rect = js_sys::Reflect::get(element, &"getBoundingClientRect".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(element).ok());
    rect.and_then(|r| js_sys::Reflect::get(&r, &"height".into()).ok())
        .and_then(|h| h.as_f64())
        .map_or(element.offset_height().max(0) as u32, |h| h.ceil() as u32)
}

/// Post `{type: 'nlu-lab:height', height}` to the parent page whenever the body's height changes.
pub fn report_height() {
    let Some(window) = web_sys::window() else { return };
    let Some(body) = window.document().and_then(|d| d.body()) else { return };
    let Ok(Some(parent)) = window.parent() else { return };
    if js_sys::Object::is(&parent, &window) {
        return; // opened directly, not in a frame: nobody to tell
    }
    let last = std::cell::Cell::new(0u32);
    let observed = body.clone();
    let on_resize = Closure::<dyn Fn()>::new(move || {
        let height = rendered_height(&observed);
        if height == last.replace(height) {
            return;
        }
        let message = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&message, &"type".into(), &"nlu-lab:height".into());
        let _ = js_sys::Reflect::set(&message, &"height".into(), &height.into());
        let _ = parent.post_message(&message, "*");
    });
    if let Ok(observer) = web_sys::ResizeObserver::new(on_resize.as_ref().unchecked_ref()) {
        observer.observe(&body);
    }
    // The observer lives as long as the page.
    on_resize.forget();
}

/// The small link back to the full app (same state, without `embed`), in a new tab.
#[component]
pub fn OpenFullLink() -> impl IntoView {
    let href = permalink::page_url(&[("embed", vec![])]);
    view! {
        <p class="open-full"><a href=href target="_blank" rel="noopener" data-testid="open-full">"open in nlu-lab ↗"</a></p>
    }
}

/// The "Embed" button: shows the snippet for one of `views` with the state `url_for` gives, and copies it.
#[component]
pub fn EmbedPanel(views: Vec<EmbedView>, url_for: Callback<EmbedView, String>) -> impl IntoView {
    let open = RwSignal::new(false);
    let view_choice = RwSignal::new(views[0]);
    let message = RwSignal::new(None::<String>);
    // `url_for` reads the lab's signals, so the snippet follows the state (layer, heads, captions) as it changes.
    let snippet = Memo::new(move |_| {
        let v = view_choice.get();
        iframe_snippet(&url_for.run(v), v)
    });
    let copy = move |_| {
        let text = snippet.get_untracked();
        spawn_local(async move {
            let clipboard = web_sys::window().map(|w| w.navigator().clipboard());
            let copied = match clipboard {
                Some(c) => wasm_bindgen_futures::JsFuture::from(c.write_text(&text)).await.is_ok(),
                None => false,
            };
            message.set(Some(if copied { "Copied.".into() } else { "Select the text and copy it (Ctrl+C).".into() }));
        });
    };
    let choices = views.len() > 1;
    // Both labs stay mounted, each with its panel: ids must differ.
    let snippet_id = format!("embed-snippet-{}", views[0].key());
    view! {
        <div class="embed-panel">
            <button type="button" data-testid="embed" aria-expanded=move || open.get().to_string()
                on:click=move |_| { open.update(|o| *o = !*o); message.set(None); }>"Embed"</button>
            <div class="embed-box" role="group" aria-label="embed this view in a course page" hidden=move || !open.get()>
                    {choices.then(|| view! {
                        <label>"View "
                            <select data-testid="embed-view" on:change=move |ev| {
                                if let Some(v) = EmbedView::parse(&event_target_value(&ev)) { view_choice.set(v) }
                            }>
                                {views.iter().map(|v| view! { <option value=v.key() selected=*v == view_choice.get_untracked()>{v.title()}</option> }).collect_view()}
                            </select>
                        </label>
                    })}
                    <label for=snippet_id.clone() class="hint">"Paste into your course page's HTML: the iframe shows this view with what you see now; the script lets it take its own height."</label>
                    <textarea id=snippet_id data-testid="embed-snippet" readonly rows="6" prop:value=move || snippet.get()></textarea>
                    <button type="button" data-testid="embed-copy" on:click=copy>"Copy"</button>
                    {move || message.get().map(|m| view! { <span class="hint" role="status">{m}</span> })}
            </div>
        </div>
    }
}
