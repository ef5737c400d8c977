//! Word between the tabs that share the weights store (a `BroadcastChannel`): a model deleted in one tab stops its
//! downloads in every other tab, which would otherwise go on writing chunks of a model that no longer exists.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

const CHANNEL: &str = "nlu-lab-weights";

thread_local! {
    static CHANNEL_HANDLE: RefCell<Option<BroadcastChannel>> = const { RefCell::new(None) };
}

fn channel() -> Option<BroadcastChannel> {
    CHANNEL_HANDLE.with(|c| {
        if c.borrow().is_none() {
            *c.borrow_mut() = BroadcastChannel::new(CHANNEL).ok();
        }
        c.borrow().clone()
    })
}

/// Tell the other tabs that `repo` is being deleted (a channel never delivers to its own sender).
pub fn announce_deletion(repo: &str) {
    if let Some(c) = channel() {
        let _ = c.post_message(&JsValue::from_str(repo));
    }
}

/// In the worker: stop this thread's downloads of a model another tab deletes.
pub fn listen() {
    let Some(c) = channel() else { return };
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(|event: MessageEvent| {
        if let Some(repo) = event.data().as_string() {
            super::download::cancel_model(&repo);
        }
    });
    c.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
}
