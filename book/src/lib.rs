//! tickwatch book stage.
#![deny(missing_docs)]
