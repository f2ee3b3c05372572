//! The seven built-in detectors. Each module documents its definition, the public rule it encodes, its evidence and
//! its score; [`crate::DetectorSet`] drives them.

pub(crate) mod close;
pub(crate) mod coordinated;
pub(crate) mod layering;
pub(crate) mod momentum;
pub(crate) mod otr;
pub(crate) mod spoofing;
pub(crate) mod stuffing;
