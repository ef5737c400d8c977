//! Leptos views.
