//! tickwatch detect stage.
#![deny(missing_docs)]
