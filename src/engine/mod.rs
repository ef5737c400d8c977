//! The browser-free core.

pub mod attention;
pub mod bert;
pub mod error;
pub mod nn;
pub mod pipeline;
pub mod tokenize;

pub use error::{Error, Result};
