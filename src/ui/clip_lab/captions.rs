//! The CLIP lab's captions: one keyed row each (edit, move up or down, remove), "Add caption", and the template.

use leptos::prelude::*;

use super::ClipState;

/// One caption row; the id keys its row, so editing or moving a caption keeps its input (and the focus).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caption {
    pub id: u32,
    pub text: RwSignal<String>,
}

/// The captions in order, as a state type: rows are created with fresh ids.
#[derive(Clone, Copy)]
pub struct Captions {
    pub rows: RwSignal<Vec<Caption>>,
    next_id: StoredValue<u32>,
    /// The lab's owner: a row's signal lives as long as the lab, whichever view's handler made it (a row made
    /// under a view that is later redrawn would be disposed with it).
    owner: StoredValue<Owner>,
}

impl Captions {
    pub fn new(texts: Vec<String>) -> Self {
        let owner = Owner::current().unwrap_or_default();
        let captions = Self { rows: RwSignal::new(vec![]), next_id: StoredValue::new(0), owner: StoredValue::new(owner) };
        captions.set(texts);
        captions
    }

    fn row(self, text: String) -> Caption {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        Caption { id, text: self.owner.with_value(|owner| owner.with(|| RwSignal::new(text))) }
    }

    /// Replace every caption.
    pub fn set(self, texts: Vec<String>) {
        let rows = texts.into_iter().map(|t| self.row(t)).collect();
        self.rows.set(rows);
    }

    /// The texts in order (reactive: rows and each text).
    pub fn texts(self) -> Vec<String> {
        self.rows.with(|rs| rs.iter().map(|c| c.text.get()).collect())
    }

    pub fn texts_untracked(self) -> Vec<String> {
        self.rows.with_untracked(|rs| rs.iter().map(|c| c.text.get_untracked()).collect())
    }

    pub fn add(self) {
        let row = self.row(String::new());
        self.rows.update(|rs| rs.push(row));
    }

    pub fn remove(self, id: u32) {
        self.rows.update(|rs| rs.retain(|c| c.id != id));
    }

    /// Move a caption one place up (`-1`) or down (`1`), if there is room.
    pub fn shift(self, id: u32, by: isize) {
        self.rows.update(|rs| {
            let Some(i) = rs.iter().position(|c| c.id == id) else { return };
            let j = i as isize + by;
            if (0..rs.len() as isize).contains(&j) {
                rs.swap(i, j as usize);
            }
        });
    }

    /// Where a caption is (reactive), counting from 0.
    pub fn index(self, id: u32) -> usize {
        self.rows.with(|rs| rs.iter().position(|c| c.id == id).unwrap_or(0))
    }

    pub fn count(self) -> usize {
        self.rows.with(Vec::len)
    }
}

#[component]
fn CaptionRow(captions: Captions, caption: Caption) -> impl IntoView {
    let id = caption.id;
    let number = move || captions.index(id) + 1;
    view! {
        <li class="caption-row">
            <input type="text" class="caption" aria-label=move || format!("caption {}", number()) prop:value=move || caption.text.get()
                on:input=move |ev| caption.text.set(event_target_value(&ev)) />
            <button type="button" aria-label=move || format!("move caption {} up", number()) prop:disabled=move || number() == 1
                on:click=move |_| captions.shift(id, -1)>"↑"</button>
            <button type="button" aria-label=move || format!("move caption {} down", number()) prop:disabled=move || number() == captions.count()
                on:click=move |_| captions.shift(id, 1)>"↓"</button>
            <button type="button" aria-label=move || format!("remove caption {}", number())
                on:click=move |_| captions.remove(id)>"✕"</button>
        </li>
    }
}

/// The caption list, "Add caption" and the template field.
#[component]
pub fn CaptionEditor(lab: ClipState) -> impl IntoView {
    let captions = lab.captions;
    view! {
        <h3>"Captions"</h3>
        <ol class="captions">
            <For each=move || captions.rows.get() key=|c| c.id let(caption)>
                <CaptionRow captions=captions caption=caption />
            </For>
        </ol>
        <button type="button" on:click=move |_| captions.add()>"Add caption"</button>
        <label class="template">"Template (optional): "
            <input type="text" placeholder="a photo of {}" prop:value=move || lab.template.get()
                on:input=move |ev| lab.template.set(event_target_value(&ev)) /></label>
    }
}
