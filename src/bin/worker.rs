//! The inference worker's wasm entry point (built by Trunk as a worker).

#[cfg(target_arch = "wasm32")]
fn main() {
    nlu_lab::web::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("nlu-lab-worker runs in the browser only; build the site with scripts/serve.sh");
}
