//! The CLIP lab's image: a file (chosen, dropped or pasted), a URL, or a camera photo.

use std::future::Future;
use std::sync::Arc;

use leptos::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::ClipState;
use crate::ui::camera::Camera;

/// An image the student gave: its file bytes (what the worker decodes) and a preview.
#[derive(Clone)]
pub struct ImageInput {
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
    /// A blob: URL of the original, for the preview.
    pub url: String,
}

impl ImageInput {
    pub async fn from_file(file: web_sys::File) -> Result<Self, String> {
        // Refused by its size before the browser reads it into memory.
        crate::engine::image_prep::check_file_size(file.size() as u64).map_err(|e| e.to_string())?;
        let buffer = JsFuture::from(file.array_buffer()).await.map_err(|_| "cannot read that file".to_string())?;
        let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
        let url = web_sys::Url::create_object_url_with_blob(&file).unwrap_or_default();
        Ok(Self { name: file.name(), bytes: Arc::new(bytes), url })
    }

    pub async fn from_url(url: String) -> Result<Self, String> {
        let bytes = crate::web::fetch::fetch_bytes(&url, &|_, _| {}).await.map_err(|_| {
            "That site does not let other pages read its images (CORS). Download the image and drop it here instead."
                .to_string()
        })?;
        let array = js_sys::Uint8Array::from(bytes.as_slice());
        let blob =
            web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&array)).map_err(|_| "bad image".to_string())?;
        let preview = web_sys::Url::create_object_url_with_blob(&blob).unwrap_or_default();
        let name = url.rsplit('/').next().unwrap_or("image").to_string();
        Ok(Self { name, bytes: Arc::new(bytes), url: preview })
    }

    pub fn from_photo(png: Vec<u8>) -> Self {
        let array = js_sys::Uint8Array::from(png.as_slice());
        let url = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&array))
            .ok()
            .and_then(|b| web_sys::Url::create_object_url_with_blob(&b).ok())
            .unwrap_or_default();
        Self { name: "camera photo".into(), bytes: Arc::new(png), url }
    }
}

/// The drop zone: the preview (or what to do), the file input, the camera and the URL row.
#[component]
pub fn ImagePicker(lab: ClipState) -> impl IntoView {
    let url_field = RwSignal::new(String::new());
    let take = move |image: std::pin::Pin<Box<dyn Future<Output = Result<ImageInput, String>>>>| lab.set_image(image);
    let take_files = move |files: Option<web_sys::FileList>| {
        if let Some(file) = files.and_then(|f| f.get(0)) {
            take(Box::pin(ImageInput::from_file(file)));
        }
    };
    view! {
        <div class="drop-zone" tabindex="0" data-testid="drop-zone" aria-label="image: drop or paste here"
            on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default()
            on:drop=move |ev: web_sys::DragEvent| { ev.prevent_default(); take_files(ev.data_transfer().and_then(|d| d.files())); }
            on:paste=move |ev: web_sys::ClipboardEvent| take_files(ev.clipboard_data().and_then(|d| d.files()))>
            {move || match lab.image.get() {
                Some(img) => view! { <img class="original" src=img.url alt=format!("your image: {}", img.name) /> }.into_any(),
                None => view! { <p>"Drop an image here, paste one (Ctrl+V), or choose a file."</p> }.into_any(),
            }}
            <input type="file" accept="image/*" data-testid="image-file" aria-label="choose an image file"
                on:change=move |ev| {
                    let input: web_sys::HtmlInputElement = event_target(&ev);
                    take_files(input.files());
                } />
            <Camera on_photo=Callback::new(move |png: Vec<u8>| take(Box::pin(async move { Ok(ImageInput::from_photo(png)) })))
                on_error=Callback::new(move |e| lab.fail(e)) />
            <div class="url-row">
                <input type="url" placeholder="https://… image URL" aria-label="image URL" prop:value=move || url_field.get()
                    on:input=move |ev| url_field.set(event_target_value(&ev)) />
                <button type="button" on:click=move |_| take(Box::pin(ImageInput::from_url(url_field.get_untracked())))>"Load URL"</button>
            </div>
        </div>
    }
}
