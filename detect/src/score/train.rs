//! Offline training of scoring models (`tickwatch train`).
