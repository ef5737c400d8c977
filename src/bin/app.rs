//! The page's wasm entry point (built by Trunk): mount the Leptos app.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(nlu_lab::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("nlu-lab-app runs in the browser only; build the site with scripts/serve.sh");
}
