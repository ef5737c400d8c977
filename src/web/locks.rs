//! Web Locks (`navigator.locks`) held across `.await`s: one download or deletion of a file at a time, across every
//! tab and worker of this origin. A second tab asking for a file another tab is downloading waits for it, then finds
//! it stored: one copy crosses the network.
//!
//! web-sys has `LockManager` only behind `--cfg=web_sys_unstable_apis`, which would apply to the whole build; the
//! two calls needed are declared here instead. Where the browser has no Web Locks (an insecure context), a lock
//! per name within this thread still keeps this worker's own requests apart.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use futures::channel::oneshot;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    type LockManager;
    #[wasm_bindgen(method, catch)]
    fn request(this: &LockManager, name: &str, callback: &Function) -> Result<Promise, JsValue>;
}

thread_local! {
    static LOCAL: RefCell<HashMap<String, Arc<futures::lock::Mutex<()>>>> = RefCell::new(HashMap::new());
}

fn lock_manager() -> Option<LockManager> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then(|| locks.unchecked_into())
}

/// Held until dropped: then the lock is released (the promise the lock callback returned resolves).
pub struct LockGuard {
    _local: futures::lock::OwnedMutexGuard<()>,
    release: Option<oneshot::Sender<()>>,
    _callback: Option<Closure<dyn FnMut(JsValue) -> Promise>>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }
}

/// Wait for the exclusive lock `name`, in this thread and across the origin.
pub async fn acquire(name: &str) -> LockGuard {
    let mutex = LOCAL.with(|l| l.borrow_mut().entry(name.to_string()).or_default().clone());
    let local = mutex.lock_owned().await;
    let Some(manager) = lock_manager() else {
        return LockGuard { _local: local, release: None, _callback: None };
    };
    let (granted_tx, granted_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let mut granted_tx = Some(granted_tx);
    let mut release_rx = Some(release_rx);
    let callback = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock: JsValue| {
        if let Some(tx) = granted_tx.take() {
            let _ = tx.send(());
        }
        let release = release_rx.take();
        // The lock is held until this promise settles: when the guard drops (or is forgotten with its sender).
        wasm_bindgen_futures::future_to_promise(async move {
            if let Some(rx) = release {
                let _ = rx.await;
            }
            Ok(JsValue::UNDEFINED)
        })
    });
    match manager.request(name, callback.as_ref().unchecked_ref()) {
        Ok(_) => {
            let _ = granted_rx.await;
            LockGuard { _local: local, release: Some(release_tx), _callback: Some(callback) }
        }
        Err(e) => {
            web_sys::console::warn_2(&"nlu-lab: Web Locks refused the request; locking within this tab only:".into(), &e);
            LockGuard { _local: local, release: None, _callback: None }
        }
    }
}
