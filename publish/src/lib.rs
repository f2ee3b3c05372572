//! tickwatch publish stage.
#![deny(missing_docs)]
