//! Camera input for the CLIP lab: a live preview, and "Take photo" turns the current frame into PNG bytes.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

async fn open_camera(video: &web_sys::HtmlVideoElement) -> Result<web_sys::MediaStream, String> {
    let devices = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(|_| "this browser gives no camera access here (it needs https or localhost)")?;
    let constraints = web_sys::MediaStreamConstraints::new();
    constraints.set_video(&true.into());
    let promise = devices.get_user_media_with_constraints(&constraints).map_err(|_| "no camera access")?;
    let stream: web_sys::MediaStream =
        JsFuture::from(promise).await.map_err(|_| "the camera is blocked or missing (check the browser's permission)")?.unchecked_into();
    video.set_src_object(Some(&stream));
    let _ = video.play().map(JsFuture::from);
    Ok(stream)
}

fn stop(stream: &web_sys::MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(t) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            t.stop();
        }
    }
}

/// The current video frame as PNG bytes.
fn capture(video: &web_sys::HtmlVideoElement) -> Result<Vec<u8>, String> {
    let (w, h) = (video.video_width(), video.video_height());
    if w == 0 || h == 0 {
        return Err("the camera has not started yet".into());
    }
    let doc = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement = doc.create_element("canvas").map_err(|_| "no canvas")?.unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    let ctx: web_sys::CanvasRenderingContext2d = canvas.get_context("2d").ok().flatten().ok_or("no 2d context")?.unchecked_into();
    ctx.draw_image_with_html_video_element(video, 0.0, 0.0).map_err(|_| "cannot read the frame")?;
    super::export::canvas_png(&canvas)
}

/// A "Use camera" button; while open, a preview and "Take photo", which calls `on_photo` with PNG bytes.
#[component]
pub fn Camera(on_photo: Callback<Vec<u8>>, on_error: Callback<String>) -> impl IntoView {
    let video = NodeRef::<leptos::html::Video>::new();
    let stream = StoredValue::new_local(None::<web_sys::MediaStream>);
    let open = RwSignal::new(false);
    let start = move |_| {
        open.set(true);
        spawn_local(async move {
            let Some(v) = video.get_untracked() else { return };
            match open_camera(&v).await {
                Ok(s) => stream.set_value(Some(s)),
                Err(e) => {
                    open.set(false);
                    on_error.run(e);
                }
            }
        });
    };
    let close = move || {
        if let Some(s) = stream.get_value() {
            stop(&s);
        }
        stream.set_value(None);
        open.set(false);
    };
    let shoot = move |_| match video.get_untracked().ok_or_else(|| "no camera".to_string()).and_then(|v| capture(&v)) {
        Ok(png) => {
            on_photo.run(png);
            close();
        }
        Err(e) => on_error.run(e),
    };
    view! {
        <div class="camera">
            <button type="button" data-testid="camera-open" hidden=move || open.get() on:click=start>"Use camera"</button>
            <div hidden=move || !open.get()>
                <video node_ref=video class="camera-preview" autoplay=true playsinline=true muted=true aria-label="camera preview"></video>
                <button type="button" data-testid="camera-shoot" on:click=shoot>"Take photo"</button>
                <button type="button" on:click=move |_| close()>"Close camera"</button>
            </div>
        </div>
    }
}
