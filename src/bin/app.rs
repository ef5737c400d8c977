//! The page's wasm entry point (built by Trunk): mount the Leptos app.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    nlu_lab::web::js::mark("page-wasm", None);
    // Which build this page is, for a bug report (and the tests that check a page and a worker of different builds).
    if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
        let _ = root.set_attribute("data-build", nlu_lab::web::messages::BUILD_ID);
    }
    leptos::mount::mount_to_body(nlu_lab::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("nlu-lab-app runs in the browser only; build the site with scripts/serve.sh");
}
