//! Evidence and trust: the tamper-evident activity chain, chain-head anchors, signed audit packs,
//! the Trust Center page and `security.txt`. Pure core: the routes and the anchoring job that use
//! it live at the edge and in the job runner.

pub mod anchor;
pub mod canonical;
pub mod chain;
pub mod pack;
pub mod security_txt;
pub mod signing;
pub mod trust;
